//! Names users give and see: stream names and shard ids.
//!
//! Invariants: a stream name is 1-128 characters of `[a-zA-Z0-9_.-]` and not `.` or
//! `..`; it is never used as a path (directories are named by numeric stream id). Shard
//! ids have the Kinesis form `shardId-` + 12 decimal digits of the shard's index.
#![forbid(unsafe_code)]

/// Longest stream name.
pub const STREAM_NAME_CHARS_MAX: usize = 128;

/// Why a stream name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// Empty.
    Empty,
    /// Longer than 128 characters.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A character outside `[a-zA-Z0-9_.-]`.
    BadCharacter {
        /// The first offending character.
        found: char,
        /// Its byte position.
        position: usize,
    },
    /// `.` or `..`.
    Reserved,
}

impl NameError {
    /// The message, naming what kind of name was refused ("stream name", "consumer
    /// name").
    pub fn describe(&self, what: &str) -> String {
        match self {
            Self::Empty => format!("{what} is empty (1 to 128 characters)"),
            Self::TooLong { len } => format!("{what} is {len} characters (at most 128)"),
            Self::BadCharacter { found, position } => {
                format!("{what} has {found:?} at position {position}; allowed: a-z A-Z 0-9 _ . -")
            }
            Self::Reserved => format!("{what} cannot be \".\" or \"..\""),
        }
    }
}

impl std::fmt::Display for NameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe("stream name"))
    }
}

/// Checks an enhanced fan-out consumer's name: 1-128 characters of `[a-zA-Z0-9_.-]`
/// (Kinesis's rule; consumer names never become paths, so `.` and `..` are allowed).
pub fn validate_consumer_name(name: &str) -> Result<(), NameError> {
    match validate_stream_name(name) {
        Err(NameError::Reserved) => Ok(()),
        other => other,
    }
}

/// Checks a stream name.
pub fn validate_stream_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some((position, found)) = name
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(NameError::BadCharacter { found, position });
    }
    if name.len() > STREAM_NAME_CHARS_MAX {
        return Err(NameError::TooLong { len: name.len() });
    }
    if name == "." || name == ".." {
        return Err(NameError::Reserved);
    }
    Ok(())
}

/// The Kinesis shard id of shard `index`: `shardId-000000000007`.
pub fn shard_id(index: u32) -> String {
    format!("shardId-{index:012}")
}

/// True if `id` has the `shardId-` + 12 digits form, whether or not the number fits a
/// shard index (a well-formed id past `u32::MAX` names a shard that cannot exist: not
/// found, rather than malformed).
pub fn has_shard_id_form(id: &str) -> bool {
    id.strip_prefix("shardId-")
        .is_some_and(|d| d.len() == 12 && d.bytes().all(|b| b.is_ascii_digit()))
}

/// The index in a shard id, if it has the `shardId-` + 12 digits form and fits a `u32`.
pub fn parse_shard_id(id: &str) -> Option<u32> {
    let digits = id.strip_prefix("shardId-")?;
    if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| u32::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names() {
        for ok in ["a", "my-stream_1.v2", &"x".repeat(128), "...", ".a", "-"] {
            assert_eq!(validate_stream_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(validate_stream_name(""), Err(NameError::Empty));
        assert_eq!(
            validate_stream_name(&"x".repeat(129)),
            Err(NameError::TooLong { len: 129 })
        );
        assert_eq!(validate_stream_name("."), Err(NameError::Reserved));
        assert_eq!(validate_stream_name(".."), Err(NameError::Reserved));
        assert_eq!(
            validate_stream_name("a/b"),
            Err(NameError::BadCharacter {
                found: '/',
                position: 1
            })
        );
        assert!(matches!(
            validate_stream_name("../etc"),
            Err(NameError::BadCharacter { found: '/', .. })
        ));
        assert!(matches!(
            validate_stream_name("a\0b"),
            Err(NameError::BadCharacter { found: '\0', .. })
        ));
        assert!(matches!(
            validate_stream_name("straße"),
            Err(NameError::BadCharacter { found: 'ß', .. })
        ));
        assert!(matches!(
            validate_stream_name("a b"),
            Err(NameError::BadCharacter { found: ' ', .. })
        ));
    }

    #[test]
    fn shard_ids() {
        assert_eq!(shard_id(0), "shardId-000000000000");
        assert_eq!(shard_id(42), "shardId-000000000042");
        assert_eq!(parse_shard_id("shardId-000000000042"), Some(42));
        assert_eq!(parse_shard_id(&shard_id(u32::MAX)), Some(u32::MAX));
        for bad in [
            "shardId-42",
            "shardid-000000000042",
            "shardId-00000000004x",
            "shardId-999999999999",
            "",
        ] {
            assert_eq!(parse_shard_id(bad), None, "{bad}");
        }
        assert!(has_shard_id_form("shardId-999999999999"));
        assert!(has_shard_id_form("shardId-000000000042"));
        assert!(!has_shard_id_form("shardId-42"));
        assert!(!has_shard_id_form("shardId-00000000004x"));
    }
}
