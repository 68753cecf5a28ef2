//! Where access keys come from: a credentials file in the AWS shared-credentials form
//! (`[profile]` sections with `aws_access_key_id` and `aws_secret_access_key`), and the
//! `TIDELOG_ACCESS_KEYS` environment variable (`KEY:SECRET[,KEY:SECRET...]`).
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::path::Path;

/// Why keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The file could not be read.
    #[error("cannot read access keys file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line or entry is malformed.
    #[error("{origin}: {problem}")]
    Malformed {
        /// File and line, or the variable.
        origin: String,
        /// What is wrong.
        problem: String,
    },
}

fn check_key(origin: &str, id: &str, secret: &str) -> Result<(), KeysError> {
    let bad = |problem: &str| {
        Err(KeysError::Malformed {
            origin: origin.to_string(),
            problem: problem.to_string(),
        })
    };
    if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return bad("an access key id is 1 to 128 letters and digits");
    }
    if secret.is_empty()
        || secret.len() > 256
        || secret
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return bad("a secret key is 1 to 256 printable characters without spaces");
    }
    Ok(())
}

/// Parses a shared-credentials file's text.
pub fn parse_credentials(text: &str, origin: &str) -> Result<HashMap<String, String>, KeysError> {
    let mut keys = HashMap::new();
    let mut section = String::new();
    let mut id: Option<(String, usize)> = None;
    let mut secret: Option<String> = None;
    let mut finish = |section: &str,
                      id: &mut Option<(String, usize)>,
                      secret: &mut Option<String>| {
        match (id.take(), secret.take()) {
            (Some((id, line)), Some(secret)) => {
                let at = format!("{origin}:{line}");
                check_key(&at, &id, &secret)?;
                keys.insert(id, secret);
                Ok(())
            }
            (None, None) => Ok(()),
            _ => Err(KeysError::Malformed {
                origin: format!("{origin} [{section}]"),
                problem: "a profile needs both aws_access_key_id and aws_secret_access_key"
                    .to_string(),
            }),
        }
    };
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            finish(&section, &mut id, &mut secret)?;
            section = name.trim().to_string();
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(KeysError::Malformed {
                origin: format!("{origin}:{}", n + 1),
                problem: "expected key = value".to_string(),
            });
        };
        match k.trim() {
            "aws_access_key_id" => id = Some((v.trim().to_string(), n + 1)),
            "aws_secret_access_key" => secret = Some(v.trim().to_string()),
            _ => {} // aws_session_token, region...: not ours
        }
    }
    finish(&section, &mut id, &mut secret)?;
    Ok(keys)
}

/// Reads a shared-credentials file.
pub fn load_file(path: &Path) -> Result<HashMap<String, String>, KeysError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeysError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_credentials(&text, &path.display().to_string())
}

/// Parses `KEY:SECRET[,KEY:SECRET...]`.
pub fn parse_env(value: &str) -> Result<HashMap<String, String>, KeysError> {
    let mut keys = HashMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((id, secret)) = entry.split_once(':') else {
            return Err(KeysError::Malformed {
                origin: "TIDELOG_ACCESS_KEYS".to_string(),
                problem: "entries are KEY:SECRET, separated by commas".to_string(),
            });
        };
        check_key("TIDELOG_ACCESS_KEYS", id, secret)?;
        keys.insert(id.to_string(), secret.to_string());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_files() {
        let text = "[default]\naws_access_key_id = AKIDA\naws_secret_access_key = s/A+1\n\
                    region = us-east-1\n\n# comment\n[ci]\naws_access_key_id=AKIDB\n\
                    aws_secret_access_key=sB\n";
        let keys = parse_credentials(text, "f").unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys["AKIDA"], "s/A+1");
        assert!(parse_credentials("[x]\naws_access_key_id=A\n", "f").is_err());
        assert!(parse_credentials("garbage\n", "f").is_err());
        assert!(
            parse_credentials("[x]\naws_access_key_id=A B\naws_secret_access_key=s\n", "f")
                .is_err()
        );
    }

    #[test]
    fn environment() {
        let keys = parse_env("A1:s1, B2:s2").unwrap();
        assert_eq!(keys["B2"], "s2");
        assert!(parse_env("nocolon").is_err());
        assert!(parse_env(":secret").is_err());
    }
}
