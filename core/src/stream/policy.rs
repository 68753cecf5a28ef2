//! Resource policies (PutResourcePolicy): IAM policy documents attached to a stream or
//! a consumer, checked and kept durably in the catalog.
//!
//! An embedded engine has no principals: every caller is the process itself, so a
//! policy is stored and returned but never enforced (docs/kinesis-api.md says so).
//! What is checked is what the service checks before accepting one: the document is a
//! JSON object of at most 20 KiB with a known `Version`, a non-empty `Statement` (an
//! object or a list of them), and each statement has an `Effect` of `Allow` or `Deny`,
//! a `Principal` (or `NotPrincipal`) and an `Action` (or `NotAction`) naming `kinesis:`
//! actions (or `*`), and only the keys IAM knows.
#![forbid(unsafe_code)]

use serde_json::Value;

use super::catalog::POLICY_BYTES_MAX;

/// Why a policy document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad(message: impl Into<String>) -> PolicyError {
    PolicyError(message.into())
}

const STATEMENT_KEYS: [&str; 9] = [
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

fn strings<'a>(value: &'a Value, what: &str) -> Result<Vec<&'a str>, PolicyError> {
    match value {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| bad(format!("{what} must hold strings")))
            })
            .collect(),
        _ => Err(bad(format!(
            "{what} must be a string or a non-empty list of strings"
        ))),
    }
}

fn check_statement(index: usize, statement: &Value) -> Result<(), PolicyError> {
    let Value::Object(map) = statement else {
        return Err(bad(format!("Statement[{index}] is not an object")));
    };
    if let Some(key) = map.keys().find(|k| !STATEMENT_KEYS.contains(&k.as_str())) {
        return Err(bad(format!(
            "Statement[{index}] has an unknown key {key:?}"
        )));
    }
    match map.get("Effect").and_then(Value::as_str) {
        Some("Allow" | "Deny") => {}
        _ => {
            return Err(bad(format!(
                "Statement[{index}].Effect must be \"Allow\" or \"Deny\""
            )));
        }
    }
    let principal = match (map.get("Principal"), map.get("NotPrincipal")) {
        (Some(p), None) | (None, Some(p)) => p,
        _ => {
            return Err(bad(format!(
                "Statement[{index}] needs exactly one of Principal and NotPrincipal"
            )));
        }
    };
    match principal {
        Value::String(s) if s == "*" => {}
        Value::Object(kinds) if !kinds.is_empty() => {
            for (kind, ids) in kinds {
                strings(ids, &format!("Statement[{index}].Principal.{kind}"))?;
            }
        }
        _ => {
            return Err(bad(format!(
                "Statement[{index}].Principal must be \"*\" or an object such as {{\"AWS\": [...]}}"
            )));
        }
    }
    let actions = match (map.get("Action"), map.get("NotAction")) {
        (Some(a), None) | (None, Some(a)) => a,
        _ => {
            return Err(bad(format!(
                "Statement[{index}] needs exactly one of Action and NotAction"
            )));
        }
    };
    for action in strings(actions, &format!("Statement[{index}].Action"))? {
        let ok = action == "*"
            || action.strip_prefix("kinesis:").is_some_and(|a| {
                !a.is_empty()
                    && a.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'*' || b == b'?')
            });
        if !ok {
            return Err(bad(format!(
                "Statement[{index}] action {action:?} is not a kinesis: action"
            )));
        }
    }
    for key in ["Resource", "NotResource"] {
        if let Some(r) = map.get(key) {
            strings(r, &format!("Statement[{index}].{key}"))?;
        }
    }
    if let Some(condition) = map.get("Condition")
        && !condition.is_object()
    {
        return Err(bad(format!(
            "Statement[{index}].Condition must be an object"
        )));
    }
    Ok(())
}

/// Checks a resource policy document (see the module doc for the rules).
pub fn validate_policy(text: &str) -> Result<(), PolicyError> {
    if text.len() > POLICY_BYTES_MAX {
        return Err(bad(format!(
            "the policy is {} bytes (at most {POLICY_BYTES_MAX})",
            text.len()
        )));
    }
    let document: Value =
        serde_json::from_str(text).map_err(|e| bad(format!("the policy is not JSON: {e}")))?;
    let Value::Object(map) = &document else {
        return Err(bad("the policy must be a JSON object"));
    };
    if let Some(key) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "Version" | "Id" | "Statement"))
    {
        return Err(bad(format!("the policy has an unknown key {key:?}")));
    }
    match map.get("Version") {
        None => {}
        Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
        Some(_) => return Err(bad("Version must be \"2012-10-17\" or \"2008-10-17\"")),
    }
    match map.get("Statement") {
        Some(Value::Array(list)) if !list.is_empty() => {
            for (i, statement) in list.iter().enumerate() {
                check_statement(i, statement)?;
            }
            Ok(())
        }
        Some(statement @ Value::Object(_)) => check_statement(0, statement),
        _ => Err(bad(
            "Statement must be an object or a non-empty list of objects",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"read",
        "Effect":"Allow","Principal":{"AWS":["arn:aws:iam::123456789012:root"]},
        "Action":["kinesis:GetRecords","kinesis:Describe*"],
        "Resource":"arn:aws:kinesis:local:000000000000:stream/s"}]}"#;

    #[test]
    fn good_policies_pass() {
        assert_eq!(validate_policy(GOOD), Ok(()));
        let single =
            r#"{"Statement":{"Effect":"Deny","Principal":"*","NotAction":"kinesis:PutRecord"}}"#;
        assert_eq!(validate_policy(single), Ok(()));
    }

    #[test]
    fn bad_policies_fail_with_a_reason() {
        for (text, reason) in [
            ("", "not JSON"),
            ("[]", "JSON object"),
            ("{\"Statement\":[]}", "non-empty"),
            ("{\"Version\":\"2020\",\"Statement\":{}}", "Version"),
            ("{\"Extra\":1,\"Statement\":{}}", "unknown key"),
            (
                r#"{"Statement":{"Effect":"Maybe","Principal":"*","Action":"*"}}"#,
                "Effect",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"*"}}"#,
                "Principal",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*"}}"#,
                "Action",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}}"#,
                "kinesis:",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Bogus":1}}"#,
                "unknown key",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":5,"Action":"*"}}"#,
                "Principal",
            ),
        ] {
            let err = validate_policy(text).expect_err(text);
            assert!(err.0.contains(reason), "{text}: {err}");
        }
        let huge = format!(
            "{{\"Id\":\"{}\",\"Statement\":{{}}}}",
            "x".repeat(POLICY_BYTES_MAX)
        );
        assert!(validate_policy(&huge).unwrap_err().0.contains("bytes"));
    }
}
