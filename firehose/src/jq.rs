//! The subset of jq (JQ-1.6) that dynamic partitioning's MetadataExtractionQuery uses:
//! an object construction whose values are paths into the record, optionally piped
//! through a few scalar functions.
//!
//! ```text
//! query  := '{' entry (',' entry)* '}'
//! entry  := key ':' expr | key                      ({a} means {a: .a})
//! key    := identifier | "string"
//! expr   := path ('|' function)*
//! path   := '.' | ('.' identifier | '."string"' | '[' "string" ']' | '[' integer ']')+
//!           (each step may end with '?', which is accepted and changes nothing)
//! function := tostring | ascii_downcase | ascii_upcase | strftime("<C format>")
//! ```
//!
//! Evaluation takes one JSON document. A key's value becomes its text (strings as they
//! are, numbers and booleans as JSON writes them); a null or missing value, an object or
//! an array is a failure for that record (it goes to the error output), never a panic.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use serde_json::Value;

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    entries: Vec<(String, Expr)>,
}

#[derive(Debug, Clone, PartialEq)]
struct Expr {
    path: Vec<Step>,
    functions: Vec<Function>,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(i64),
}

#[derive(Debug, Clone, PartialEq)]
enum Function {
    ToString,
    Downcase,
    Upcase,
    Strftime(String),
}

/// The longest query accepted (AWS: ProcessorParameterValue, 5,120 characters).
pub const QUERY_CHARS_MAX: usize = 5120;

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(&format!("expected {:?}", c as char)))
        }
    }

    fn error(&self, what: &str) -> String {
        format!("{what} at character {}", self.i)
    }

    fn identifier(&mut self) -> Option<String> {
        self.ws();
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
        {
            if self.i == start && self.s[self.i].is_ascii_digit() {
                break;
            }
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn string(&mut self) -> Result<String, String> {
        self.ws();
        if self.s.get(self.i) != Some(&b'"') {
            return Err(self.error("expected a string"));
        }
        let start = self.i;
        self.i += 1;
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    let raw = std::str::from_utf8(&self.s[start..self.i])
                        .map_err(|_| self.error("invalid UTF-8"))?;
                    return serde_json::from_str(raw).map_err(|e| self.error(&e.to_string()));
                }
                _ => self.i += 1,
            }
        }
        Err(self.error("unterminated string"))
    }

    fn integer(&mut self) -> Option<i64> {
        self.ws();
        let start = self.i;
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()
            .and_then(|t| t.parse().ok())
            .or_else(|| {
                self.i = start;
                None
            })
    }

    fn path(&mut self) -> Result<Vec<Step>, String> {
        if !self.eat(b'.') {
            return Err(self.error("expected a path starting with '.'"));
        }
        let mut steps = Vec::new();
        // Right after the leading dot: a key, a quoted key, a bracket, or nothing (`.`).
        match self.s.get(self.i) {
            Some(b'"') => steps.push(Step::Key(self.string()?)),
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                steps.push(Step::Key(self.identifier().unwrap_or_default()))
            }
            _ => {}
        }
        loop {
            self.eat(b'?');
            match self.s.get(self.i) {
                Some(b'.') => {
                    self.i += 1;
                    match self.s.get(self.i) {
                        Some(b'"') => steps.push(Step::Key(self.string()?)),
                        _ => match self.identifier() {
                            Some(id) => steps.push(Step::Key(id)),
                            None => return Err(self.error("expected a key after '.'")),
                        },
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    if self.peek() == Some(b'"') {
                        steps.push(Step::Key(self.string()?));
                    } else if let Some(n) = self.integer() {
                        steps.push(Step::Index(n));
                    } else {
                        return Err(self.error("expected a string or an integer index"));
                    }
                    self.expect(b']')?;
                }
                _ => return Ok(steps),
            }
        }
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let path = self.path()?;
        let mut functions = Vec::new();
        while self.eat(b'|') {
            let name = self
                .identifier()
                .ok_or_else(|| self.error("expected a function name after '|'"))?;
            functions.push(match name.as_str() {
                "tostring" => Function::ToString,
                "ascii_downcase" => Function::Downcase,
                "ascii_upcase" => Function::Upcase,
                "strftime" => {
                    self.expect(b'(')?;
                    let format = self.string()?;
                    self.expect(b')')?;
                    Function::Strftime(format)
                }
                other => {
                    return Err(format!(
                        "function {other:?} is not in the supported subset (tostring, ascii_downcase, ascii_upcase, strftime)"
                    ));
                }
            });
        }
        Ok(Expr { path, functions })
    }
}

impl Query {
    /// Parses a MetadataExtractionQuery.
    pub fn parse(source: &str) -> Result<Self, String> {
        if source.chars().count() > QUERY_CHARS_MAX {
            return Err(format!("longer than {QUERY_CHARS_MAX} characters"));
        }
        let mut p = Parser {
            s: source.as_bytes(),
            i: 0,
        };
        p.expect(b'{')?;
        let mut entries: Vec<(String, Expr)> = Vec::new();
        if !p.eat(b'}') {
            loop {
                let key = if p.peek() == Some(b'"') {
                    p.string()?
                } else {
                    p.identifier()
                        .ok_or_else(|| p.error("expected a key (identifier or string)"))?
                };
                let expr = if p.eat(b':') {
                    p.expr()?
                } else {
                    Expr {
                        path: vec![Step::Key(key.clone())],
                        functions: Vec::new(),
                    }
                };
                if entries.iter().any(|(k, _)| *k == key) {
                    return Err(format!("key {key:?} appears twice"));
                }
                entries.push((key, expr));
                if p.eat(b'}') {
                    break;
                }
                p.expect(b',')?;
            }
        }
        if p.peek().is_some() {
            return Err(p.error("unexpected text after the query"));
        }
        if entries.is_empty() {
            return Err("the query extracts no key".to_string());
        }
        Ok(Self { entries })
    }

    /// The keys the query produces.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    /// Evaluates the query on one record. An error says which key failed and why.
    pub fn evaluate(&self, document: &Value) -> Result<BTreeMap<String, String>, String> {
        let mut out = BTreeMap::new();
        for (key, expr) in &self.entries {
            let mut value = document;
            for step in &expr.path {
                value = match (step, value) {
                    (Step::Key(k), Value::Object(map)) => map.get(k).unwrap_or(&Value::Null),
                    (Step::Index(i), Value::Array(items)) => {
                        let len = items.len() as i64;
                        let at = if *i < 0 { len + i } else { *i };
                        if at < 0 || at >= len {
                            &Value::Null
                        } else {
                            &items[at as usize]
                        }
                    }
                    (_, Value::Null) => &Value::Null,
                    (Step::Key(k), other) => {
                        return Err(format!(
                            "{key}: cannot index {} with {k:?}",
                            type_name(other)
                        ));
                    }
                    (Step::Index(_), other) => {
                        return Err(format!(
                            "{key}: cannot index {} with a number",
                            type_name(other)
                        ));
                    }
                };
            }
            let mut text = match value {
                Value::Null => return Err(format!("{key}: the value is null or missing")),
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Array(_) | Value::Object(_) => {
                    return Err(format!(
                        "{key}: the value is {}, not a scalar",
                        type_name(value)
                    ));
                }
            };
            for function in &expr.functions {
                text = match function {
                    Function::ToString => text,
                    Function::Downcase => text.to_ascii_lowercase(),
                    Function::Upcase => text.to_ascii_uppercase(),
                    Function::Strftime(format) => {
                        let seconds: f64 = text.parse().map_err(|_| {
                            format!("{key}: strftime needs seconds since the epoch, got {text:?}")
                        })?;
                        if !seconds.is_finite() || seconds.abs() > 1e14 {
                            return Err(format!("{key}: {seconds} is out of range for strftime"));
                        }
                        strftime(format, (seconds * 1000.0).floor() as i64)?
                    }
                };
            }
            out.insert(key.clone(), text);
        }
        Ok(out)
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// C `strftime` (UTC) for the conversions jq users write in partition keys.
fn strftime(format: &str, epoch_ms: i64) -> Result<String, String> {
    let t = crate::timefmt::Civil::at(epoch_ms, 0);
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&format!("{:04}", t.year)),
            Some('y') => out.push_str(&format!("{:02}", t.year.rem_euclid(100))),
            Some('m') => out.push_str(&format!("{:02}", t.month)),
            Some('d') => out.push_str(&format!("{:02}", t.day)),
            Some('H') => out.push_str(&format!("{:02}", t.hour)),
            Some('M') => out.push_str(&format!("{:02}", t.minute)),
            Some('S') => out.push_str(&format!("{:02}", t.second)),
            Some('j') => out.push_str(&format!(
                "{:03}",
                t.days - crate::timefmt::days_from_civil(t.year, 1, 1) + 1
            )),
            Some('F') => out.push_str(&format!("{:04}-{:02}-{:02}", t.year, t.month, t.day)),
            Some('%') => out.push('%'),
            Some(other) => return Err(format!("strftime conversion %{other} is not supported")),
            None => return Err("strftime format ends with '%'".to_string()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_and_functions() {
        let q = Query::parse(
            r#"{customer_id: .customer.id, "kind": .events[0].type | ascii_downcase, n: .n, ok: .ok,
                 year: .ts | strftime("%Y"), day: .ts|strftime("%m-%d"), x: ."a b"["c"], last: .events[-1].type, device}"#,
        )
        .unwrap();
        let doc = json!({"customer": {"id": "c42"}, "events": [{"type": "CLICK"}, {"type": "view"}],
                         "n": 12.5, "ok": true, "ts": 1535365805, "a b": {"c": "z"}, "device": "phone"});
        let keys = q.evaluate(&doc).unwrap();
        assert_eq!(keys["customer_id"], "c42");
        assert_eq!(keys["kind"], "click");
        assert_eq!(keys["n"], "12.5");
        assert_eq!(keys["ok"], "true");
        assert_eq!(keys["year"], "2018");
        assert_eq!(keys["day"], "08-27");
        assert_eq!(keys["x"], "z");
        assert_eq!(keys["last"], "view");
        assert_eq!(keys["device"], "phone");
    }

    #[test]
    fn missing_and_non_scalar_values_fail_the_record() {
        let q = Query::parse("{a: .a.b}").unwrap();
        assert!(q.evaluate(&json!({})).unwrap_err().contains("null"));
        assert!(
            q.evaluate(&json!({"a": {"b": [1]}}))
                .unwrap_err()
                .contains("array")
        );
        assert!(
            q.evaluate(&json!({"a": 3}))
                .unwrap_err()
                .contains("cannot index")
        );
        assert!(
            q.evaluate(&json!([1]))
                .unwrap_err()
                .contains("cannot index")
        );
    }

    #[test]
    fn bad_queries_are_refused() {
        for bad in [
            "",
            ".a",
            "{a: .a",
            "{a: a}",
            "{a: .a | length}",
            "{a: .a, a: .b}",
            "{}",
            "{a: .a} extra",
            "{a: .[x]}",
            "{a: .a | strftime(%Y)}",
        ] {
            assert!(Query::parse(bad).is_err(), "{bad:?}");
        }
    }
}
