//! Amazon Resource Names of streams and enhanced fan-out consumers.
//!
//! ```text
//! arn:<partition>:kinesis:<region>:<account>:stream/<stream name>
//! arn:<partition>:kinesis:<region>:<account>:stream/<stream name>/consumer/<consumer name>:<created, s>
//! arn:<partition>:kinesis:<region>:<account>:queue/<queue id, 16 hex digits>
//! ```
//!
//! An engine has one [`ArnScope`] (partition, region, account: configuration, with
//! `aws`, `local` and `000000000000` by default) and writes every ARN in it. Parsing
//! checks the shape first (a malformed ARN is a validation error, as the service's
//! model pattern makes it), then the scope: a well-formed ARN of another region or
//! account names nothing this engine holds (not found). The consumer ARN's number is
//! the consumer's creation time in seconds, so an ARN of a consumer that was
//! deregistered and registered again under the same name names the old one.
#![forbid(unsafe_code)]

use super::names::{NameError, validate_consumer_name, validate_stream_name};

/// Longest ARN accepted (Kinesis: 2,048 characters).
pub const ARN_CHARS_MAX: usize = 2048;

/// The partition, region and account this engine writes into its ARNs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArnScope {
    /// `aws` (or `aws-cn`, `aws-us-gov`...).
    pub partition: String,
    /// The region (`local` by default).
    pub region: String,
    /// The 12-digit account id (`000000000000` by default).
    pub account: String,
}

impl Default for ArnScope {
    fn default() -> Self {
        Self {
            partition: "aws".to_string(),
            region: "local".to_string(),
            account: "000000000000".to_string(),
        }
    }
}

/// What an ARN names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// A stream.
    Stream {
        /// Its name.
        stream: String,
    },
    /// An enhanced fan-out consumer of a stream.
    Consumer {
        /// The stream's name.
        stream: String,
        /// The consumer's name.
        consumer: String,
        /// Its creation time, seconds since the epoch.
        created_s: u64,
    },
    /// A queue (its id is generated at creation, not derived from its name). Any
    /// non-blank text after `queue/` is well formed; only ids this engine issued name
    /// a queue.
    Queue {
        /// The text after `queue/`.
        id: String,
    },
}

/// A parsed ARN: its scope and what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedArn {
    /// Partition, region, account.
    pub scope: ArnScope,
    /// The resource.
    pub resource: Resource,
}

/// Why an ARN was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArnError {
    /// Empty or longer than 2,048 characters.
    Length(usize),
    /// Not of the `arn:<partition>:kinesis:<region>:<account>:<resource>` form.
    Shape(&'static str),
    /// A stream or consumer name inside it breaks the naming rules.
    Name {
        /// "stream name" or "consumer name".
        what: &'static str,
        /// The rule broken.
        error: NameError,
    },
}

impl std::fmt::Display for ArnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Length(n) => write!(f, "ARN of {n} characters (1 to 2048)"),
            Self::Shape(rule) => write!(f, "not a Kinesis ARN: {rule}"),
            Self::Name { what, error } => write!(f, "in the ARN: {}", error.describe(what)),
        }
    }
}

impl ArnScope {
    /// Checks the scope's parts: a partition starting with `aws`, a region of
    /// lowercase letters, digits and dashes (1 to 32), a 12-digit account.
    pub fn validate(&self) -> Result<(), &'static str> {
        let p = &self.partition;
        if !p.starts_with("aws")
            || p.len() > 32
            || !p.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        {
            return Err("the partition is aws, aws-cn, aws-us-gov... (lowercase letters and -)");
        }
        let r = &self.region;
        if r.is_empty()
            || r.len() > 32
            || !r
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("the region is 1 to 32 of a-z 0-9 -");
        }
        if self.account.len() != 12 || !self.account.bytes().all(|b| b.is_ascii_digit()) {
            return Err("the account is 12 digits");
        }
        Ok(())
    }

    fn prefix(&self) -> String {
        format!(
            "arn:{}:kinesis:{}:{}:",
            self.partition, self.region, self.account
        )
    }

    /// The ARN of stream `stream`.
    pub fn stream_arn(&self, stream: &str) -> String {
        format!("{}stream/{stream}", self.prefix())
    }

    /// The ARN of the queue of id `id`.
    pub fn queue_arn(&self, id: u64) -> String {
        format!("{}queue/{id:016x}", self.prefix())
    }

    /// The ARN of consumer `consumer` of `stream`, registered at `created_ms`.
    pub fn consumer_arn(&self, stream: &str, consumer: &str, created_ms: u64) -> String {
        format!(
            "{}stream/{stream}/consumer/{consumer}:{}",
            self.prefix(),
            created_ms / 1000
        )
    }
}

/// Parses an ARN of a stream or a consumer (shape and names; not the scope).
pub fn parse(arn: &str) -> Result<ParsedArn, ArnError> {
    let chars = arn.chars().count();
    if chars == 0 || chars > ARN_CHARS_MAX {
        return Err(ArnError::Length(chars));
    }
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(region), Some(account), Some(rest)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(ArnError::Shape(
            "expected arn:<partition>:kinesis:<region>:<account>:<resource>",
        ));
    };
    if !partition.starts_with("aws") {
        return Err(ArnError::Shape("the partition must start with aws"));
    }
    if service != "kinesis" {
        return Err(ArnError::Shape("the service must be kinesis"));
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ArnError::Shape("the account must be 12 digits"));
    }
    if let Some(id) = rest.strip_prefix("queue/") {
        if id.is_empty() || id.chars().any(char::is_whitespace) {
            return Err(ArnError::Shape("a queue ARN ends with queue/<queue id>"));
        }
        return Ok(ParsedArn {
            scope: ArnScope {
                partition: partition.to_string(),
                region: region.to_string(),
                account: account.to_string(),
            },
            resource: Resource::Queue { id: id.to_string() },
        });
    }
    let Some(path) = rest.strip_prefix("stream/") else {
        return Err(ArnError::Shape(
            "the resource must be stream/<name>, stream/<name>/consumer/<name>:<time> or queue/<id>",
        ));
    };
    let stream_name = |name: &str| {
        validate_stream_name(name).map_err(|error| ArnError::Name {
            what: "stream name",
            error,
        })
    };
    let resource = match path.split_once("/consumer/") {
        None => {
            stream_name(path)?;
            Resource::Stream {
                stream: path.to_string(),
            }
        }
        Some((stream, consumer_part)) => {
            stream_name(stream)?;
            let Some((consumer, created)) = consumer_part.rsplit_once(':') else {
                return Err(ArnError::Shape(
                    "a consumer ARN ends with :<creation time in seconds>",
                ));
            };
            validate_consumer_name(consumer).map_err(|error| ArnError::Name {
                what: "consumer name",
                error,
            })?;
            let created_s = (!created.is_empty()
                && created.len() <= 19
                && created.bytes().all(|b| b.is_ascii_digit()))
            .then(|| created.parse::<u64>().ok())
            .flatten()
            .ok_or(ArnError::Shape(
                "a consumer ARN ends with :<creation time in seconds>",
            ))?;
            Resource::Consumer {
                stream: stream.to_string(),
                consumer: consumer.to_string(),
                created_s,
            }
        }
    };
    Ok(ParsedArn {
        scope: ArnScope {
            partition: partition.to_string(),
            region: region.to_string(),
            account: account.to_string(),
        },
        resource,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let scope = ArnScope::default();
        assert_eq!(scope.validate(), Ok(()));
        let s = scope.stream_arn("orders");
        assert_eq!(s, "arn:aws:kinesis:local:000000000000:stream/orders");
        assert_eq!(
            parse(&s).unwrap(),
            ParsedArn {
                scope: scope.clone(),
                resource: Resource::Stream {
                    stream: "orders".into()
                }
            }
        );
        let c = scope.consumer_arn("orders", "app.v1", 1_536_348_545_123);
        assert_eq!(
            c,
            "arn:aws:kinesis:local:000000000000:stream/orders/consumer/app.v1:1536348545"
        );
        assert_eq!(
            parse(&c).unwrap().resource,
            Resource::Consumer {
                stream: "orders".into(),
                consumer: "app.v1".into(),
                created_s: 1_536_348_545
            }
        );
    }

    #[test]
    fn malformed_arns_are_refused() {
        for bad in [
            "",
            "orders",
            "arn:aws:kinesis:local:000000000000",
            "arn:aws:sqs:local:000000000000:stream/x",
            "arn:gcp:kinesis:local:000000000000:stream/x",
            "arn:aws:kinesis:local:12345:stream/x",
            "arn:aws:kinesis:local:000000000000:widget/x",
            "arn:aws:kinesis:local:000000000000:queue/",
            "arn:aws:kinesis:local:000000000000:queue/a b",
            "arn:aws:kinesis:local:000000000000:stream/",
            "arn:aws:kinesis:local:000000000000:stream/a b",
            "arn:aws:kinesis:local:000000000000:stream/../x",
            "arn:aws:kinesis:local:000000000000:stream/x/consumer/c",
            "arn:aws:kinesis:local:000000000000:stream/x/consumer/c:",
            "arn:aws:kinesis:local:000000000000:stream/x/consumer/c:12a",
            "arn:aws:kinesis:local:000000000000:stream/x/consumer/:12",
            "arn:aws:kinesis:local:000000000000:stream/x/consumer/c:99999999999999999999",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!(
            "arn:aws:kinesis:local:000000000000:stream/{}",
            "x".repeat(2048)
        );
        assert_eq!(parse(&long), Err(ArnError::Length(long.chars().count())));
    }

    #[test]
    fn queue_arns_round_trip() {
        let scope = ArnScope::default();
        let arn = scope.queue_arn(0x00ab_cdef_0123_4567);
        assert_eq!(
            arn,
            "arn:aws:kinesis:local:000000000000:queue/00abcdef01234567"
        );
        let parsed = parse(&arn).unwrap();
        assert_eq!(parsed.scope, scope);
        assert_eq!(
            parsed.resource,
            Resource::Queue {
                id: "00abcdef01234567".to_string()
            }
        );
        // Any non-blank id is well formed (only issued ids name a queue).
        assert!(parse("arn:aws:kinesis:local:000000000000:queue/q").is_ok());
    }

    #[test]
    fn scopes_are_checked() {
        for bad in [
            ArnScope {
                account: "12".into(),
                ..ArnScope::default()
            },
            ArnScope {
                region: "Us East".into(),
                ..ArnScope::default()
            },
            ArnScope {
                partition: "gcp".into(),
                ..ArnScope::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
