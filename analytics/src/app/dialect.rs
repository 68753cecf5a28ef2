//! The application SQL of Kinesis Data Analytics, turned into plain SQL plus window
//! specifications that the continuous engine runs.
//!
//! An application's text is a list of statements separated by `;`:
//! - `CREATE [OR REPLACE] STREAM name (column TYPE, ...)`: an in-application stream;
//! - `CREATE [OR REPLACE] PUMP name AS INSERT INTO stream [(columns)] SELECT [STREAM]
//!   ...`: a continuous query feeding a stream.
//!
//! A pump's window is recognised here and replaced by a column the engine fills in:
//! - tumbling: `STEP(t BY INTERVAL 'n' UNIT)`, `FLOOR(t TO UNIT)` (in GROUP BY),
//!   `tumble(INTERVAL 'n' UNIT)` / `tumble(t, INTERVAL ...)`;
//! - hopping: `hop(INTERVAL slide, INTERVAL width)`; session: `session(INTERVAL gap)`;
//!   these three (and STEP/FLOOR) become the column `"__window_start"`;
//! - sliding: `OVER W` with `WINDOW W AS ([PARTITION BY ...] RANGE INTERVAL 'n' UNIT
//!   PRECEDING)` or `ROWS n PRECEDING` (or the same inline after OVER): rewritten to
//!   DataFusion's `ORDER BY "ROWTIME" RANGE BETWEEN ... PRECEDING AND CURRENT ROW`;
//! - stagger: `WINDOWED BY STAGGER (PARTITION BY exprs RANGE INTERVAL 'n' UNIT)`:
//!   removed, its partition expressions become the GROUP BY.
//!
//! Other `FLOOR(x TO UNIT)` calls become `date_trunc('unit', x)`; `SELECT STREAM`
//! becomes `SELECT`.
//!
//! Table functions: `SELECT ... FROM TABLE(FN(CURSOR(SELECT ...), args...)) ...` with FN
//! one of `TOP_K_ITEMS_TUMBLING`, `COUNT_DISTINCT_ITEMS_TUMBLING`, `RANDOM_CUT_FOREST`
//! (`_WITH_EXPLANATION`), `HOTSPOTS` becomes a [`TableFunction`]: the CURSOR's SELECT (rewritten, giving
//! `"__rowtime"` first), the function's arguments (checked against their ranges here,
//! each error naming the argument), and the outer SELECT reading `"__table_function"`
//! (a bare `*` there leaves out the function's ROWTIME column).
//!
//! Invariants: the rewrite works on tokens (strings, quoted identifiers and comments
//! are never looked into), so user text is otherwise passed to DataFusion unchanged;
//! every error names the line and column of the offending token.
#![forbid(unsafe_code)]

use crate::error::{Error, Result};
use crate::schema::SqlType;

/// The time a window is computed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeColumn {
    /// `ROWTIME`: when the row entered the in-application stream.
    Rowtime,
    /// A column of the row (event time).
    Column(String),
}

/// A pump's window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowSpec {
    /// No window: each row in, its result out (filters, projections, joins with
    /// reference tables).
    None,
    /// Fixed, non-overlapping windows.
    Tumbling {
        /// Width, ms.
        size_ms: i64,
        /// On which time.
        time: TimeColumn,
    },
    /// Overlapping windows of `size_ms`, one starting every `slide_ms`.
    Hopping {
        /// Distance between starts, ms.
        slide_ms: i64,
        /// Width, ms.
        size_ms: i64,
        /// On which time.
        time: TimeColumn,
    },
    /// Windows per group that close after `gap_ms` without a row.
    Session {
        /// The gap, ms.
        gap_ms: i64,
        /// On which time.
        time: TimeColumn,
    },
    /// Per row: an aggregate over the rows of the last `range_ms` (same partition).
    SlidingRange {
        /// The range, ms.
        range_ms: i64,
    },
    /// Per row: an aggregate over the last `rows` rows (same partition) and this one.
    SlidingRows {
        /// Rows before the current one.
        rows: u64,
        /// The partition columns' SQL text.
        partition_by: Vec<String>,
    },
    /// A window per partition key, opened by that key's first row, closed `size_ms`
    /// later.
    Stagger {
        /// Width, ms.
        size_ms: i64,
        /// The partition expressions' SQL text.
        partition_by: Vec<String>,
    },
}

/// A statement of an application.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `CREATE OR REPLACE STREAM`.
    CreateStream {
        /// The in-application stream's name.
        name: String,
        /// Its columns.
        columns: Vec<(String, SqlType)>,
    },
    /// `CREATE OR REPLACE PUMP`.
    CreatePump(Pump),
}

/// A continuous query.
#[derive(Debug, Clone, PartialEq)]
pub struct Pump {
    /// The pump's name.
    pub name: String,
    /// The in-application stream it inserts into.
    pub target: String,
    /// Its column list, if given.
    pub target_columns: Vec<String>,
    /// The stream (or reference table) it selects from (its first FROM item).
    pub source: String,
    /// The rewritten SELECT (plain SQL for DataFusion).
    pub select: String,
    /// Its window.
    pub window: WindowSpec,
    /// A table function it reads (`FROM TABLE(FN(CURSOR(SELECT ...), ...))`): then
    /// `source` is the CURSOR's stream and `select` reads the function's rows from
    /// [`TABLE_FUNCTION`].
    pub function: Option<TableFunction>,
}

/// The name a table function's rows go by in its pump's (rewritten) SELECT.
pub const TABLE_FUNCTION: &str = "__table_function";
/// The column a CURSOR's rewritten SELECT gives first: the row's ROWTIME.
pub const CURSOR_ROWTIME: &str = "__rowtime";

/// A Kinesis Data Analytics table function and its arguments (checked ranges).
#[derive(Debug, Clone, PartialEq)]
pub enum FunctionKind {
    /// `TOP_K_ITEMS_TUMBLING(cursor, 'column', k, windowSeconds)`.
    TopK {
        /// The counted column.
        column: String,
        /// How many items per window.
        k: usize,
        /// The tumbling window, ms.
        window_ms: i64,
    },
    /// `COUNT_DISTINCT_ITEMS_TUMBLING(cursor, 'column', windowSeconds)`.
    CountDistinct {
        /// The counted column.
        column: String,
        /// The tumbling window, ms.
        window_ms: i64,
    },
    /// `RANDOM_CUT_FOREST(cursor [, trees [, subSampleSize [, timeDecay [, shingleSize]]]])`,
    /// or `RANDOM_CUT_FOREST_WITH_EXPLANATION(... [, withDirectionality])`.
    RandomCutForest {
        /// Trees in the forest.
        trees: usize,
        /// Points each tree samples.
        sample: usize,
        /// Time decay, in rows (the sampler favours the last `decay` rows or so).
        decay: u64,
        /// Consecutive rows making one point.
        shingle: usize,
        /// `WITH_EXPLANATION`: `Some(withDirectionality)`.
        explain: Option<bool>,
    },
    /// `HOTSPOTS(cursor, windowSize, scanRadius, minimumNumberOfPointsInAHotspot)`.
    Hotspots {
        /// Rows considered (the last ones).
        window: usize,
        /// Neighbour distance.
        radius: f64,
        /// Points a hotspot needs.
        min_points: usize,
    },
}

impl FunctionKind {
    /// The function's SQL name.
    pub fn name(&self) -> &'static str {
        match self {
            FunctionKind::TopK { .. } => "TOP_K_ITEMS_TUMBLING",
            FunctionKind::CountDistinct { .. } => "COUNT_DISTINCT_ITEMS_TUMBLING",
            FunctionKind::RandomCutForest { explain: None, .. } => "RANDOM_CUT_FOREST",
            FunctionKind::RandomCutForest { .. } => "RANDOM_CUT_FOREST_WITH_EXPLANATION",
            FunctionKind::Hotspots { .. } => "HOTSPOTS",
        }
    }
}

/// A pump's table function: which function, and the CURSOR's query.
#[derive(Debug, Clone, PartialEq)]
pub struct TableFunction {
    /// The function and its arguments.
    pub kind: FunctionKind,
    /// The CURSOR's SELECT, rewritten, giving [`CURSOR_ROWTIME`] first.
    pub cursor: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Str(String),
    Number(String),
    Punct(char),
    Space,
}

#[derive(Debug, Clone)]
struct T {
    tok: Tok,
    start: usize,
    end: usize,
}

/// Line and column (1-based) of byte `at` of `text`.
fn position(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |nl| {
        before[nl + 1..].chars().count()
    }) + 1;
    (line, column)
}

fn err(text: &str, at: usize, what: impl std::fmt::Display) -> Error {
    let (line, column) = position(text, at);
    Error::Sql(format!("{what} at Line: {line}, Column: {column}"))
}

fn tokenize(text: &str) -> Result<Vec<T>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let c = b[i];
        let tok = if c.is_ascii_whitespace() {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            Tok::Space
        } else if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            Tok::Space
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let close = text[i + 2..]
                .find("*/")
                .ok_or_else(|| err(text, i, "a comment that never closes"))?;
            i += close + 4;
            Tok::Space
        } else if c == b'\'' || c == b'"' {
            let mut j = i + 1;
            loop {
                match b.get(j) {
                    None => {
                        return Err(err(
                            text,
                            i,
                            if c == b'\'' {
                                "a string that never closes"
                            } else {
                                "a quoted name that never closes"
                            },
                        ));
                    }
                    Some(&q) if q == c && b.get(j + 1) == Some(&c) => j += 2,
                    Some(&q) if q == c => break,
                    Some(_) => j += 1,
                }
            }
            let inner = text[i + 1..j].replace(
                if c == b'\'' { "''" } else { "\"\"" },
                if c == b'\'' { "'" } else { "\"" },
            );
            i = j + 1;
            if c == b'\'' {
                Tok::Str(inner)
            } else {
                Tok::Quoted(inner)
            }
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            Tok::Number(text[start..i].to_string())
        } else if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80)
            {
                i += 1;
            }
            Tok::Word(text[start..i].to_string())
        } else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
            Tok::Punct(text[start..].chars().next().unwrap_or(' '))
        };
        out.push(T { tok, start, end: i });
    }
    Ok(out)
}

fn is_word(t: &T, w: &str) -> bool {
    matches!(&t.tok, Tok::Word(x) if x.eq_ignore_ascii_case(w))
}

/// The non-space tokens' indexes.
fn solid(tokens: &[T]) -> Vec<usize> {
    (0..tokens.len())
        .filter(|&i| tokens[i].tok != Tok::Space)
        .collect()
}

/// Parses an interval literal at `s[k..]`: `INTERVAL 'n' UNIT` or `INTERVAL 'n unit'`;
/// returns (ms, tokens used).
fn interval(text: &str, tokens: &[T], s: &[usize], k: usize) -> Result<(i64, usize)> {
    let at = |n: usize| s.get(k + n).map(|&i| &tokens[i]);
    let here = at(0).map_or(text.len(), |t| t.start);
    if !at(0).is_some_and(|t| is_word(t, "INTERVAL")) {
        return Err(err(text, here, "expected INTERVAL 'n' UNIT"));
    }
    let Some(T {
        tok: Tok::Str(value),
        ..
    }) = at(1)
    else {
        return Err(err(
            text,
            here,
            "expected INTERVAL 'n' UNIT (a quoted number)",
        ));
    };
    let mut parts = value.split_whitespace();
    let number = parts.next().unwrap_or("");
    let (unit, used) = match parts.next() {
        Some(u) => (u.to_string(), 2),
        None => match at(2) {
            Some(T {
                tok: Tok::Word(u), ..
            }) => (u.clone(), 3),
            _ => {
                return Err(err(
                    text,
                    here,
                    "an INTERVAL needs a unit (SECOND, MINUTE, HOUR, DAY)",
                ));
            }
        },
    };
    let n: f64 = number.parse().map_err(|_| {
        err(
            text,
            here,
            format!("{number:?} is not a number of an INTERVAL"),
        )
    })?;
    let unit_ms =
        unit_ms(&unit).ok_or_else(|| err(text, here, format!("unknown INTERVAL unit {unit:?}")))?;
    let ms = n * unit_ms as f64;
    if !(1.0..=366.0 * 86_400_000.0).contains(&ms) || ms.fract() != 0.0 {
        return Err(err(
            text,
            here,
            "an INTERVAL must be a whole number of milliseconds from 1 ms to a year",
        ));
    }
    Ok((ms as i64, used))
}

fn unit_ms(unit: &str) -> Option<i64> {
    Some(match unit.to_ascii_uppercase().trim_end_matches('S') {
        "MILLISECOND" => 1,
        "SECOND" => 1000,
        "MINUTE" => 60_000,
        "HOUR" => 3_600_000,
        "DAY" => 86_400_000,
        _ => return None,
    })
}

/// The index in `s` of the token closing the parenthesis opened at `s[k]`.
fn closing(text: &str, tokens: &[T], s: &[usize], k: usize) -> Result<usize> {
    let mut depth = 0i32;
    for (n, &i) in s.iter().enumerate().skip(k) {
        match tokens[i].tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => {
                depth -= 1;
                if depth == 0 {
                    return Ok(n);
                }
            }
            _ => {}
        }
    }
    Err(err(text, tokens[s[k]].start, "a '(' that never closes"))
}

fn time_of(expr: &str) -> TimeColumn {
    let e = expr.trim();
    let last = e.rsplit('.').next().unwrap_or(e).trim_matches('"');
    if last.eq_ignore_ascii_case("ROWTIME") {
        TimeColumn::Rowtime
    } else {
        TimeColumn::Column(last.to_string())
    }
}

/// Splits an application's text into statements and parses each.
pub fn parse_application(text: &str) -> Result<Vec<Statement>> {
    let tokens = tokenize(text)?;
    let mut out = Vec::new();
    let mut begin = 0;
    let mut depth = 0i32;
    for (i, t) in tokens.iter().enumerate() {
        match t.tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            Tok::Punct(';') if depth == 0 => {
                if tokens[begin..i].iter().any(|t| t.tok != Tok::Space) {
                    out.push(statement(text, &tokens[begin..i])?);
                }
                begin = i + 1;
            }
            _ => {}
        }
    }
    if tokens[begin..].iter().any(|t| t.tok != Tok::Space) {
        out.push(statement(text, &tokens[begin..])?);
    }
    if out.is_empty() {
        return Err(Error::Sql("the application has no statements".into()));
    }
    Ok(out)
}

fn name_of(text: &str, t: Option<&T>) -> Result<String> {
    match t {
        Some(T {
            tok: Tok::Word(w), ..
        }) => Ok(w.clone()),
        Some(T {
            tok: Tok::Quoted(q),
            ..
        }) => Ok(q.clone()),
        Some(t) => Err(err(text, t.start, "expected a name")),
        None => Err(Error::Sql(
            "expected a name at the end of the statement".into(),
        )),
    }
}

fn statement(text: &str, tokens: &[T]) -> Result<Statement> {
    let s = solid(tokens);
    let at = |n: usize| s.get(n).map(|&i| &tokens[i]);
    let first = at(0).ok_or_else(|| Error::Sql("an empty statement".into()))?;
    if !is_word(first, "CREATE") {
        return Err(err(
            text,
            first.start,
            "expected CREATE [OR REPLACE] STREAM or PUMP",
        ));
    }
    let mut k = 1;
    if at(1).is_some_and(|t| is_word(t, "OR")) {
        if !at(2).is_some_and(|t| is_word(t, "REPLACE")) {
            return Err(err(
                text,
                at(2).map_or(text.len(), |t| t.start),
                "expected REPLACE after OR",
            ));
        }
        k = 3;
    }
    let kind = at(k).ok_or_else(|| err(text, first.start, "expected STREAM or PUMP"))?;
    if is_word(kind, "STREAM") {
        let name = name_of(text, at(k + 1))?;
        let open = k + 2;
        if !at(open).is_some_and(|t| t.tok == Tok::Punct('(')) {
            return Err(err(
                text,
                at(open).map_or(text.len(), |t| t.start),
                "expected '(' and the stream's columns",
            ));
        }
        let close = closing(text, tokens, &s, open)?;
        let mut columns = Vec::new();
        let mut n = open + 1;
        while n < close {
            let column = name_of(text, at(n))?;
            let type_start = n + 1;
            let mut m = type_start;
            let mut d = 0;
            while m < close {
                match tokens[s[m]].tok {
                    Tok::Punct('(') => d += 1,
                    Tok::Punct(')') => d -= 1,
                    Tok::Punct(',') if d == 0 => break,
                    _ => {}
                }
                m += 1;
            }
            if m == type_start {
                return Err(err(
                    text,
                    tokens[s[n]].start,
                    format!("column {column:?} has no type"),
                ));
            }
            let type_text = &text[tokens[s[type_start]].start..tokens[s[m - 1]].end];
            let sql_type = SqlType::parse(type_text)
                .map_err(|e| err(text, tokens[s[type_start]].start, e.to_string()))?;
            columns.push((column, sql_type));
            n = m + 1;
        }
        if columns.is_empty() {
            return Err(err(
                text,
                kind.start,
                format!("stream {name:?} has no columns"),
            ));
        }
        if close + 1 < s.len() {
            return Err(err(
                text,
                tokens[s[close + 1]].start,
                "unexpected text after the columns",
            ));
        }
        return Ok(Statement::CreateStream { name, columns });
    }
    if !is_word(kind, "PUMP") {
        return Err(err(text, kind.start, "expected STREAM or PUMP"));
    }
    let name = name_of(text, at(k + 1))?;
    let mut n = k + 2;
    if !at(n).is_some_and(|t| is_word(t, "AS")) {
        return Err(err(
            text,
            at(n).map_or(text.len(), |t| t.start),
            "expected AS INSERT INTO ... SELECT",
        ));
    }
    n += 1;
    if !(at(n).is_some_and(|t| is_word(t, "INSERT"))
        && at(n + 1).is_some_and(|t| is_word(t, "INTO")))
    {
        return Err(err(
            text,
            at(n).map_or(text.len(), |t| t.start),
            "expected INSERT INTO",
        ));
    }
    let target = name_of(text, at(n + 2))?;
    n += 3;
    let mut target_columns = Vec::new();
    if at(n).is_some_and(|t| t.tok == Tok::Punct('(')) {
        let close = closing(text, tokens, &s, n)?;
        let mut m = n + 1;
        while m < close {
            target_columns.push(name_of(text, at(m))?);
            m += 1;
            if m < close && tokens[s[m]].tok != Tok::Punct(',') {
                return Err(err(
                    text,
                    tokens[s[m]].start,
                    "expected ',' between column names",
                ));
            }
            m += 1;
        }
        n = close + 1;
    }
    let select_at = at(n).ok_or_else(|| Error::Sql(format!("pump {name:?} has no SELECT")))?;
    if !is_word(select_at, "SELECT") {
        return Err(err(text, select_at.start, "expected SELECT"));
    }
    let query_tokens: Vec<T> = tokens[s[n]..].to_vec();
    if let Some((source, select, function)) = table_function(text, &query_tokens)? {
        return Ok(Statement::CreatePump(Pump {
            name,
            target,
            target_columns,
            source,
            select,
            window: WindowSpec::None,
            function: Some(function),
        }));
    }
    let (select, window, source) = rewrite_select(text, &query_tokens)?;
    Ok(Statement::CreatePump(Pump {
        name,
        target,
        target_columns,
        source,
        select,
        window,
        function: None,
    }))
}

/// An argument's value.
enum Arg {
    Str(String),
    Num(f64, String),
    Bool(bool),
    Other(String),
}

const FUNCTIONS: [&str; 5] = [
    "TOP_K_ITEMS_TUMBLING",
    "COUNT_DISTINCT_ITEMS_TUMBLING",
    "RANDOM_CUT_FOREST",
    "RANDOM_CUT_FOREST_WITH_EXPLANATION",
    "HOTSPOTS",
];

/// `SELECT ... FROM TABLE(FN(CURSOR(SELECT ...), args...)) ...`: (the CURSOR's
/// source, the outer SELECT rewritten over [`TABLE_FUNCTION`], the function); `None`
/// when the query reads no table function.
fn table_function(text: &str, tokens: &[T]) -> Result<Option<(String, String, TableFunction)>> {
    let s = solid(tokens);
    let mut depth = 0i32;
    let mut table = None;
    for k in 0..s.len() {
        match tokens[s[k]].tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            _ => {}
        }
        if depth == 0
            && is_word(&tokens[s[k]], "FROM")
            && s.get(k + 1).is_some_and(|&i| is_word(&tokens[i], "TABLE"))
            && s.get(k + 2)
                .is_some_and(|&i| tokens[i].tok == Tok::Punct('('))
        {
            table = Some(k + 1);
            break;
        }
    }
    let Some(table) = table else {
        return Ok(None);
    };
    let open = table + 1;
    let close = closing(text, tokens, &s, open)?;
    let at_table = tokens[s[table]].start;
    let fname = match s.get(open + 1).map(|&i| &tokens[i].tok) {
        Some(Tok::Word(w))
            if s.get(open + 2)
                .is_some_and(|&i| tokens[i].tok == Tok::Punct('(')) =>
        {
            w.to_ascii_uppercase()
        }
        _ => {
            return Err(err(
                text,
                at_table,
                "TABLE(...) needs a function call: TABLE(TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM \"SOURCE_SQL_STREAM_001\"), 'column', 10, 60))",
            ));
        }
    };
    let at_fn = tokens[s[open + 1]].start;
    if !FUNCTIONS.contains(&fname.as_str()) {
        return Err(err(
            text,
            at_fn,
            format!(
                "unknown table function {fname} (tidelog has {})",
                FUNCTIONS.join(", ")
            ),
        ));
    }
    let fopen = open + 2;
    let fclose = closing(text, tokens, &s, fopen)?;
    if fclose + 1 != close {
        return Err(err(
            text,
            tokens[s[fclose + 1]].start,
            format!("TABLE(...) holds one call of {fname} and nothing else"),
        ));
    }
    // The arguments: token ranges [from, to) in `s`, split at commas of depth 0.
    let mut args: Vec<(usize, usize)> = Vec::new();
    let mut from = fopen + 1;
    let mut d = 0i32;
    for m in fopen + 1..fclose {
        match tokens[s[m]].tok {
            Tok::Punct('(') => d += 1,
            Tok::Punct(')') => d -= 1,
            Tok::Punct(',') if d == 0 => {
                args.push((from, m));
                from = m + 1;
            }
            _ => {}
        }
    }
    if from < fclose {
        args.push((from, fclose));
    }
    if let Some(&(a, b)) = args.iter().find(|(a, b)| a == b) {
        let _ = b;
        return Err(err(
            text,
            tokens[s[a.min(fclose)]].start,
            format!("{fname}: an argument is missing between commas"),
        ));
    }
    // Argument 1: CURSOR(SELECT ...).
    let cursor_err = |at: usize| {
        err(
            text,
            at,
            format!(
                "{fname}: argument 1 (inputStream) must be CURSOR(SELECT STREAM ... FROM \"stream\")"
            ),
        )
    };
    let Some(&(a, b)) = args.first() else {
        return Err(cursor_err(at_fn));
    };
    if !(is_word(&tokens[s[a]], "CURSOR")
        && s.get(a + 1)
            .is_some_and(|&i| tokens[i].tok == Tok::Punct('('))
        && closing(text, tokens, &s, a + 1)? + 1 == b
        && s.get(a + 2).is_some_and(|&i| is_word(&tokens[i], "SELECT")))
    {
        return Err(cursor_err(tokens[s[a]].start));
    }
    let cursor_tokens: Vec<T> = tokens[s[a + 2]..=s[b - 2]].to_vec();
    let (cursor_sql, cursor_window, source) = rewrite_select(text, &cursor_tokens)?;
    if cursor_window != WindowSpec::None {
        return Err(err(
            text,
            tokens[s[a]].start,
            format!("{fname}: the CURSOR's SELECT takes no window (the function has its own)"),
        ));
    }
    let cursor = with_rowtime_first(&cursor_sql);
    // The other arguments.
    let values: Vec<(Arg, usize)> = args[1..]
        .iter()
        .map(|&(a, b)| {
            let at = tokens[s[a]].start;
            let raw = text[at..tokens[s[b - 1]].end].to_string();
            let v = match (b - a, &tokens[s[a]].tok) {
                (1, Tok::Str(x)) => Arg::Str(x.clone()),
                (1, Tok::Word(w)) if w.eq_ignore_ascii_case("TRUE") => Arg::Bool(true),
                (1, Tok::Word(w)) if w.eq_ignore_ascii_case("FALSE") => Arg::Bool(false),
                (1, Tok::Number(n)) => n
                    .parse()
                    .map_or(Arg::Other(raw.clone()), |v| Arg::Num(v, raw)),
                (2, Tok::Punct('-')) => match &tokens[s[a + 1]].tok {
                    Tok::Number(n) => n
                        .parse::<f64>()
                        .map_or(Arg::Other(raw.clone()), |v| Arg::Num(-v, raw)),
                    _ => Arg::Other(raw),
                },
                _ => Arg::Other(raw),
            };
            (v, at)
        })
        .collect();
    let names: &[&str] = match fname.as_str() {
        "TOP_K_ITEMS_TUMBLING" => &["inputStream", "columnName", "K", "windowSize"],
        "COUNT_DISTINCT_ITEMS_TUMBLING" => &["inputStream", "columnName", "windowSize"],
        "RANDOM_CUT_FOREST" => &[
            "inputStream",
            "numberOfTrees",
            "subSampleSize",
            "timeDecay",
            "shingleSize",
        ],
        "RANDOM_CUT_FOREST_WITH_EXPLANATION" => &[
            "inputStream",
            "numberOfTrees",
            "subSampleSize",
            "timeDecay",
            "shingleSize",
            "withDirectionality",
        ],
        _ => &[
            "inputStream",
            "windowSize",
            "scanRadius",
            "minimumNumberOfPointsInAHotspot",
        ],
    };
    let optional = fname.starts_with("RANDOM_CUT_FOREST");
    if args.len() > names.len() || (!optional && args.len() < names.len()) {
        return Err(err(
            text,
            at_fn,
            format!(
                "{fname} takes {}{} arguments ({}); {} given",
                if optional { "1 to " } else { "" },
                names.len(),
                names.join(", "),
                args.len()
            ),
        ));
    }
    let whole = |n: usize, lo: i64, hi: i64, default: Option<i64>| -> Result<i64> {
        let Some((v, at)) = values.get(n - 2) else {
            return Ok(default.expect("optional arguments have defaults"));
        };
        let bad = |shown: &str| {
            err(
                text,
                *at,
                format!(
                    "{fname}: argument {n} ({}) must be a whole number from {lo} to {hi}, not {shown}",
                    names[n - 1]
                ),
            )
        };
        match v {
            Arg::Num(x, raw) => {
                if x.fract() != 0.0 || *x < lo as f64 || *x > hi as f64 {
                    Err(bad(raw))
                } else {
                    Ok(*x as i64)
                }
            }
            Arg::Str(x) => Err(bad(&format!("the text '{x}'"))),
            Arg::Bool(x) => Err(bad(&x.to_string().to_uppercase())),
            Arg::Other(raw) => Err(bad(raw)),
        }
    };
    let column = |n: usize| -> Result<String> {
        let (v, at) = &values[n - 2];
        match v {
            Arg::Str(x) if !x.is_empty() => Ok(x.clone()),
            Arg::Str(_) => Err(err(
                text,
                *at,
                format!("{fname}: argument {n} ({}) is empty", names[n - 1]),
            )),
            Arg::Num(_, raw) | Arg::Other(raw) => Err(err(
                text,
                *at,
                format!(
                    "{fname}: argument {n} ({}) must be a column name in single quotes ('ticker'), not {raw}",
                    names[n - 1]
                ),
            )),
            Arg::Bool(x) => Err(err(
                text,
                *at,
                format!(
                    "{fname}: argument {n} ({}) must be a column name in single quotes ('ticker'), not {}",
                    names[n - 1],
                    x.to_string().to_uppercase()
                ),
            )),
        }
    };
    let kind = match fname.as_str() {
        "TOP_K_ITEMS_TUMBLING" => FunctionKind::TopK {
            column: column(2)?,
            k: whole(3, 1, 100_000, None)? as usize,
            window_ms: whole(4, 1, 3600, None)? * 1000,
        },
        "COUNT_DISTINCT_ITEMS_TUMBLING" => FunctionKind::CountDistinct {
            column: column(2)?,
            window_ms: whole(3, 1, 3600, None)? * 1000,
        },
        "RANDOM_CUT_FOREST" | "RANDOM_CUT_FOREST_WITH_EXPLANATION" => {
            let trees = whole(2, 1, 1000, Some(100))? as usize;
            let sample = whole(3, 10, 1000, Some(256))? as usize;
            let decay = whole(4, 1, i32::MAX as i64, Some(100_000))? as u64;
            let shingle = whole(5, 1, 30, Some(1))? as usize;
            if sample as u64 >= decay {
                return Err(err(
                    text,
                    values.get(1).map_or(at_fn, |v| v.1),
                    format!(
                        "{fname}: argument 3 (subSampleSize, {sample}) must be less than argument 4 (timeDecay, {decay})"
                    ),
                ));
            }
            let explain = if fname == "RANDOM_CUT_FOREST" {
                None
            } else {
                Some(match values.get(4) {
                    None => false,
                    Some((Arg::Bool(b), _)) => *b,
                    Some((Arg::Num(_, raw) | Arg::Other(raw), at)) => {
                        return Err(err(
                            text,
                            *at,
                            format!(
                                "{fname}: argument 6 (withDirectionality) must be TRUE or FALSE, not {raw}"
                            ),
                        ));
                    }
                    Some((Arg::Str(x), at)) => {
                        return Err(err(
                            text,
                            *at,
                            format!(
                                "{fname}: argument 6 (withDirectionality) must be TRUE or FALSE, not the text '{x}'"
                            ),
                        ));
                    }
                })
            };
            FunctionKind::RandomCutForest {
                trees,
                sample,
                decay,
                shingle,
                explain,
            }
        }
        _ => {
            let window = whole(2, 1, 100_000, None)? as usize;
            let (v, at) = &values[1];
            let radius = match v {
                Arg::Num(x, _) if x.is_finite() && *x > 0.0 => *x,
                Arg::Bool(x) => {
                    return Err(err(
                        text,
                        *at,
                        format!(
                            "{fname}: argument 3 (scanRadius) must be a number above 0, not {}",
                            x.to_string().to_uppercase()
                        ),
                    ));
                }
                Arg::Num(_, raw) | Arg::Other(raw) => {
                    return Err(err(
                        text,
                        *at,
                        format!(
                            "{fname}: argument 3 (scanRadius) must be a number above 0, not {raw}"
                        ),
                    ));
                }
                Arg::Str(x) => {
                    return Err(err(
                        text,
                        *at,
                        format!(
                            "{fname}: argument 3 (scanRadius) must be a number above 0, not the text '{x}'"
                        ),
                    ));
                }
            };
            let min_points = whole(4, 2, window.max(2) as i64, None)? as usize;
            FunctionKind::Hotspots {
                window,
                radius,
                min_points,
            }
        }
    };
    // The outer SELECT, reading the function's rows from TABLE_FUNCTION; a bare `*`
    // leaves out the function's ROWTIME column.
    let begin = tokens[s[0]].start;
    let end = tokens.last().map_or(begin, |t| t.end);
    let outer_text = format!(
        "{}\"{TABLE_FUNCTION}\"{}",
        &text[begin..at_table],
        &text[tokens[s[close]].end..end]
    );
    let outer_text = star_without_rowtime(&outer_text)?;
    let outer_tokens = tokenize(&outer_text)?;
    let (select, outer_window, outer_source) = rewrite_select(&outer_text, &outer_tokens)?;
    if outer_window != WindowSpec::None || outer_source != TABLE_FUNCTION {
        return Err(err(
            text,
            begin,
            format!(
                "a SELECT over TABLE({fname}(...)) takes no window and no other FROM item first"
            ),
        ));
    }
    Ok(Some((source, select, TableFunction { kind, cursor })))
}

/// `SELECT [DISTINCT] rest` as `SELECT [DISTINCT] "ROWTIME" AS "__rowtime", rest`.
fn with_rowtime_first(select: &str) -> String {
    let t = select.trim_start();
    let after_select = t[6..].trim_start();
    let (head, rest) = if after_select
        .get(..8)
        .is_some_and(|w| w.eq_ignore_ascii_case("DISTINCT"))
    {
        ("SELECT DISTINCT", &after_select[8..])
    } else {
        ("SELECT", after_select)
    };
    format!("{head} \"ROWTIME\" AS \"{CURSOR_ROWTIME}\", {rest}")
}

/// A bare `*` of the top-level select list as `* EXCLUDE ("ROWTIME")`.
fn star_without_rowtime(text: &str) -> Result<String> {
    let tokens = tokenize(text)?;
    let s = solid(&tokens);
    let mut depth = 0i32;
    let mut out = String::new();
    let mut cursor = 0;
    for k in 0..s.len() {
        let t = &tokens[s[k]];
        match t.tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            _ => {}
        }
        if depth == 0 && is_word(t, "FROM") {
            break;
        }
        if depth == 0
            && t.tok == Tok::Punct('*')
            && k > 0
            && (is_word(&tokens[s[k - 1]], "SELECT")
                || is_word(&tokens[s[k - 1]], "STREAM")
                || is_word(&tokens[s[k - 1]], "DISTINCT")
                || tokens[s[k - 1]].tok == Tok::Punct(','))
        {
            out.push_str(&text[cursor..t.start]);
            out.push_str("* EXCLUDE (\"ROWTIME\")");
            cursor = t.end;
        }
    }
    out.push_str(&text[cursor..]);
    Ok(out)
}

/// Rewrites a pump's SELECT: drops STREAM, turns its window into plain SQL.
fn rewrite_select(text: &str, tokens: &[T]) -> Result<(String, WindowSpec, String)> {
    let s = solid(tokens);
    let mut window = WindowSpec::None;
    // Replacements: (token range in `s`, new text).
    let mut replace: Vec<(usize, usize, String)> = Vec::new();
    let set_window = |window: &mut WindowSpec, spec: WindowSpec, at: usize| -> Result<()> {
        if *window != WindowSpec::None && *window != spec {
            return Err(err(
                text,
                at,
                "a pump has one window; this is a second, different one",
            ));
        }
        *window = spec;
        Ok(())
    };
    // SELECT STREAM.
    if s.len() > 1 && is_word(&tokens[s[1]], "STREAM") {
        replace.push((1, 1, String::new()));
    }
    let mut source = String::new();
    let mut depth = 0i32;
    let mut in_group_by = false;
    let mut k = 0;
    while k < s.len() {
        let t = &tokens[s[k]];
        match &t.tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            _ => {}
        }
        if depth == 0 && is_word(t, "FROM") && source.is_empty() {
            source = name_of(text, s.get(k + 1).map(|&i| &tokens[i]))?;
        }
        if depth == 0
            && is_word(t, "GROUP")
            && s.get(k + 1).is_some_and(|&i| is_word(&tokens[i], "BY"))
        {
            in_group_by = true;
        }
        if depth == 0
            && (is_word(t, "HAVING")
                || is_word(t, "ORDER")
                || is_word(t, "WINDOW")
                || is_word(t, "LIMIT"))
        {
            in_group_by = false;
        }
        let next_is_paren = s
            .get(k + 1)
            .is_some_and(|&i| tokens[i].tok == Tok::Punct('('));
        if let Tok::Word(w) = &t.tok
            && next_is_paren
        {
            let upper = w.to_ascii_uppercase();
            match upper.as_str() {
                "STEP" => {
                    let close = closing(text, tokens, &s, k + 1)?;
                    let by = (k + 2..close)
                        .find(|&m| is_word(&tokens[s[m]], "BY"))
                        .ok_or_else(|| {
                            err(text, t.start, "STEP needs (time BY INTERVAL 'n' UNIT)")
                        })?;
                    let expr = &text[tokens[s[k + 2]].start..tokens[s[by - 1]].end];
                    let (size_ms, _) = interval(text, tokens, &s, by + 1)?;
                    set_window(
                        &mut window,
                        WindowSpec::Tumbling {
                            size_ms,
                            time: time_of(expr),
                        },
                        t.start,
                    )?;
                    replace.push((k, close, "\"__window_start\"".into()));
                    k = close + 1;
                    continue;
                }
                "FLOOR" => {
                    let close = closing(text, tokens, &s, k + 1)?;
                    let to = (k + 2..close).find(|&m| is_word(&tokens[s[m]], "TO"));
                    if let Some(to) = to {
                        let expr = &text[tokens[s[k + 2]].start..tokens[s[to - 1]].end];
                        let unit = match tokens.get(s[to + 1]).map(|t| &t.tok) {
                            Some(Tok::Word(u)) => u.clone(),
                            _ => {
                                return Err(err(
                                    text,
                                    tokens[s[to]].start,
                                    "FLOOR(x TO UNIT) needs a unit",
                                ));
                            }
                        };
                        let unit_size = unit_ms(&unit).ok_or_else(|| {
                            err(text, tokens[s[to]].start, format!("unknown unit {unit:?}"))
                        })?;
                        let time = time_of(expr);
                        if in_group_by && depth == 0 && time == TimeColumn::Rowtime {
                            set_window(
                                &mut window,
                                WindowSpec::Tumbling {
                                    size_ms: unit_size,
                                    time,
                                },
                                t.start,
                            )?;
                            replace.push((k, close, "\"__window_start\"".into()));
                        } else {
                            replace.push((
                                k,
                                close,
                                format!("date_trunc('{}', {expr})", unit.to_ascii_lowercase()),
                            ));
                        }
                        k = close + 1;
                        continue;
                    }
                }
                "TUMBLE" | "HOP" | "SESSION" => {
                    let close = closing(text, tokens, &s, k + 1)?;
                    let mut m = k + 2;
                    let mut time = TimeColumn::Rowtime;
                    if !is_word(&tokens[s[m]], "INTERVAL") {
                        let comma = (m..close)
                            .find(|&x| tokens[s[x]].tok == Tok::Punct(','))
                            .ok_or_else(|| {
                                err(text, t.start, format!("{upper} needs an INTERVAL"))
                            })?;
                        time = time_of(&text[tokens[s[m]].start..tokens[s[comma - 1]].end]);
                        m = comma + 1;
                    }
                    let (first, used) = interval(text, tokens, &s, m)?;
                    let spec = match upper.as_str() {
                        "TUMBLE" => WindowSpec::Tumbling {
                            size_ms: first,
                            time,
                        },
                        "SESSION" => WindowSpec::Session {
                            gap_ms: first,
                            time,
                        },
                        _ => {
                            let comma = m + used;
                            if tokens.get(s[comma]).map(|t| &t.tok) != Some(&Tok::Punct(',')) {
                                return Err(err(
                                    text,
                                    t.start,
                                    "hop needs (INTERVAL slide, INTERVAL width)",
                                ));
                            }
                            let (size_ms, _) = interval(text, tokens, &s, comma + 1)?;
                            if size_ms % first != 0 {
                                return Err(err(
                                    text,
                                    t.start,
                                    "hop's width must be a multiple of its slide",
                                ));
                            }
                            WindowSpec::Hopping {
                                slide_ms: first,
                                size_ms,
                                time,
                            }
                        }
                    };
                    set_window(&mut window, spec, t.start)?;
                    replace.push((k, close, "\"__window_start\"".into()));
                    k = close + 1;
                    continue;
                }
                _ => {}
            }
        }
        // WINDOWED BY STAGGER (PARTITION BY ... RANGE INTERVAL ...)
        if depth == 0
            && is_word(t, "WINDOWED")
            && s.get(k + 1).is_some_and(|&i| is_word(&tokens[i], "BY"))
            && s.get(k + 2)
                .is_some_and(|&i| is_word(&tokens[i], "STAGGER"))
        {
            let open = k + 3;
            let close = closing(text, tokens, &s, open)?;
            let range = (open..close)
                .find(|&m| is_word(&tokens[s[m]], "RANGE"))
                .ok_or_else(|| err(text, t.start, "STAGGER needs RANGE INTERVAL 'n' UNIT"))?;
            if !is_word(&tokens[s[open + 1]], "PARTITION") {
                return Err(err(
                    text,
                    tokens[s[open + 1]].start,
                    "STAGGER needs PARTITION BY",
                ));
            }
            let exprs = split_commas(text, tokens, &s, open + 3, range);
            let (size_ms, _) = interval(text, tokens, &s, range + 1)?;
            let rewritten: Vec<String> = exprs.iter().map(|e| rewrite_floor(e)).collect();
            set_window(
                &mut window,
                WindowSpec::Stagger {
                    size_ms,
                    partition_by: rewritten.clone(),
                },
                t.start,
            )?;
            replace.push((
                k,
                close,
                format!("GROUP BY {}, \"__window_start\"", rewritten.join(", ")),
            ));
            k = close + 1;
            continue;
        }
        // Sliding windows: WINDOW W AS (...) or OVER (...).
        let named = depth == 0
            && is_word(t, "WINDOW")
            && s.get(k + 2).is_some_and(|&i| is_word(&tokens[i], "AS"));
        let inline = is_word(t, "OVER") && next_is_paren;
        if named || inline {
            let open = if named { k + 3 } else { k + 1 };
            let close = closing(text, tokens, &s, open)?;
            let range_kw = (open..close)
                .find(|&m| is_word(&tokens[s[m]], "RANGE") || is_word(&tokens[s[m]], "ROWS"));
            if let Some(r) = range_kw {
                let partition: Vec<String> = if is_word(&tokens[s[open + 1]], "PARTITION") {
                    split_commas(text, tokens, &s, open + 3, r)
                } else {
                    Vec::new()
                };
                let partition_sql = if partition.is_empty() {
                    String::new()
                } else {
                    format!("PARTITION BY {} ", partition.join(", "))
                };
                let (spec, frame) = if is_word(&tokens[s[r]], "RANGE") {
                    if is_word(&tokens[s[r + 1]], "BETWEEN") {
                        return Err(err(
                            text,
                            tokens[s[r]].start,
                            "write RANGE INTERVAL 'n' UNIT PRECEDING",
                        ));
                    }
                    let (range_ms, used) = interval(text, tokens, &s, r + 1)?;
                    let iv = &text[tokens[s[r + 1]].start..tokens[s[r + used]].end];
                    (
                        WindowSpec::SlidingRange { range_ms },
                        format!("RANGE BETWEEN {iv} PRECEDING AND CURRENT ROW"),
                    )
                } else {
                    let rows = match tokens.get(s[r + 1]).map(|t| &t.tok) {
                        Some(Tok::Number(n)) => n.parse::<u64>().map_err(|_| {
                            err(text, tokens[s[r + 1]].start, "ROWS needs a whole number")
                        })?,
                        _ => return Err(err(text, tokens[s[r]].start, "ROWS needs a number")),
                    };
                    (
                        WindowSpec::SlidingRows {
                            rows,
                            partition_by: partition.clone(),
                        },
                        format!("ROWS BETWEEN {rows} PRECEDING AND CURRENT ROW"),
                    )
                };
                set_window(&mut window, spec, t.start)?;
                let head = if named {
                    format!(
                        "WINDOW {} AS",
                        &text[tokens[s[k + 1]].start..tokens[s[k + 1]].end]
                    )
                } else {
                    "OVER".to_string()
                };
                replace.push((
                    k,
                    close,
                    format!("{head} ({partition_sql}ORDER BY \"ROWTIME\" {frame})"),
                ));
                k = close + 1;
                continue;
            }
        }
        k += 1;
    }
    if source.is_empty() {
        return Err(err(
            text,
            tokens.first().map_or(0, |t| t.start),
            "the SELECT has no FROM",
        ));
    }
    // Apply the replacements (ranges are in order and disjoint).
    let mut sql = String::new();
    let mut cursor = tokens.first().map_or(0, |t| t.start);
    for (from, to, with) in &replace {
        let a = tokens[s[*from]].start;
        let b = tokens[s[*to]].end;
        sql.push_str(&text[cursor..a]);
        sql.push_str(with);
        cursor = b;
    }
    sql.push_str(&text[cursor..tokens.last().map_or(cursor, |t| t.end)]);
    Ok((sql, window, source))
}

/// The top-level GROUP BY items of a (rewritten) SELECT, without the window column
/// `"__window_start"`: the keys of session windows.
pub fn group_by_items(sql: &str) -> Result<Vec<String>> {
    let tokens = tokenize(sql)?;
    let s = solid(&tokens);
    let mut depth = 0i32;
    let mut from = None;
    let mut to = s.len();
    for (k, &i) in s.iter().enumerate() {
        match tokens[i].tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            _ => {}
        }
        if depth != 0 {
            continue;
        }
        if from.is_none()
            && is_word(&tokens[i], "GROUP")
            && s.get(k + 1).is_some_and(|&j| is_word(&tokens[j], "BY"))
        {
            from = Some(k + 2);
        } else if from.is_some_and(|f| k >= f)
            && ["HAVING", "ORDER", "WINDOW", "LIMIT", "UNION"]
                .iter()
                .any(|w| is_word(&tokens[i], w))
        {
            to = k;
            break;
        }
    }
    let Some(from) = from else {
        return Ok(Vec::new());
    };
    Ok(split_commas(sql, &tokens, &s, from, to)
        .into_iter()
        .filter(|e| e.trim() != "\"__window_start\"")
        .collect())
}

fn split_commas(text: &str, tokens: &[T], s: &[usize], from: usize, to: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = from;
    let mut depth = 0;
    for m in from..to {
        match tokens[s[m]].tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            Tok::Punct(',') if depth == 0 => {
                out.push(text[tokens[s[start]].start..tokens[s[m - 1]].end].to_string());
                start = m + 1;
            }
            _ => {}
        }
    }
    if start < to {
        out.push(text[tokens[s[start]].start..tokens[s[to - 1]].end].to_string());
    }
    out
}

/// `FLOOR(x TO UNIT)` inside an expression's text, as `date_trunc('unit', x)`.
fn rewrite_floor(expr: &str) -> String {
    let Ok(tokens) = tokenize(expr) else {
        return expr.to_string();
    };
    let s = solid(&tokens);
    if s.len() >= 5
        && is_word(&tokens[s[0]], "FLOOR")
        && tokens[s[1]].tok == Tok::Punct('(')
        && let Some(to) = (2..s.len()).find(|&m| is_word(&tokens[s[m]], "TO"))
        && let Some(Tok::Word(unit)) = s.get(to + 1).map(|&i| &tokens[i].tok)
    {
        let inner = &expr[tokens[s[2]].start..tokens[s[to - 1]].end];
        return format!("date_trunc('{}', {inner})", unit.to_ascii_lowercase());
    }
    expr.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pump(text: &str) -> Pump {
        match parse_application(text).unwrap().pop().unwrap() {
            Statement::CreatePump(p) => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn streams_and_pumps() {
        let app = parse_application(
            r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker VARCHAR(4), avg_price DOUBLE, n DECIMAL(10, 2));
               -- a comment; with a semicolon
               CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
               SELECT STREAM ticker, AVG(price) FROM "SOURCE_SQL_STREAM_001"
               GROUP BY ticker, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '60' SECOND);"#,
        )
        .unwrap();
        assert_eq!(app.len(), 2);
        let Statement::CreateStream { name, columns } = &app[0] else {
            panic!()
        };
        assert_eq!(name, "DESTINATION_SQL_STREAM");
        assert_eq!(columns[2].1, SqlType::Decimal(10, 2));
        let Statement::CreatePump(p) = &app[1] else {
            panic!()
        };
        assert_eq!(p.target, "DESTINATION_SQL_STREAM");
        assert_eq!(p.source, "SOURCE_SQL_STREAM_001");
        assert_eq!(
            p.window,
            WindowSpec::Tumbling {
                size_ms: 60_000,
                time: TimeColumn::Rowtime
            }
        );
        assert!(p.select.starts_with("SELECT  ticker"), "{}", p.select);
        assert!(
            p.select.ends_with("GROUP BY ticker, \"__window_start\""),
            "{}",
            p.select
        );
    }

    #[test]
    fn every_window_form() {
        let p = pump(
            "CREATE PUMP p AS INSERT INTO o SELECT STREAM k, COUNT(*) FROM s GROUP BY k, FLOOR(s.ROWTIME TO MINUTE)",
        );
        assert_eq!(
            p.window,
            WindowSpec::Tumbling {
                size_ms: 60_000,
                time: TimeColumn::Rowtime
            }
        );
        let p = pump(
            "CREATE PUMP p AS INSERT INTO o SELECT k, COUNT(*) FROM s GROUP BY k, tumble(interval '5 seconds')",
        );
        assert_eq!(
            p.window,
            WindowSpec::Tumbling {
                size_ms: 5000,
                time: TimeColumn::Rowtime
            }
        );
        let p = pump(
            "CREATE PUMP p AS INSERT INTO o SELECT k, COUNT(*) FROM s GROUP BY k, tumble(event_time, INTERVAL '1' MINUTE)",
        );
        assert_eq!(
            p.window,
            WindowSpec::Tumbling {
                size_ms: 60_000,
                time: TimeColumn::Column("event_time".into())
            }
        );
        let p = pump(
            "CREATE PUMP p AS INSERT INTO o SELECT k, COUNT(*) FROM s GROUP BY hop(INTERVAL '10' SECOND, INTERVAL '1' MINUTE), k",
        );
        assert_eq!(
            p.window,
            WindowSpec::Hopping {
                slide_ms: 10_000,
                size_ms: 60_000,
                time: TimeColumn::Rowtime
            }
        );
        let p = pump(
            "CREATE PUMP p AS INSERT INTO o SELECT k, COUNT(*) FROM s GROUP BY session(INTERVAL '30' SECOND), k",
        );
        assert_eq!(
            p.window,
            WindowSpec::Session {
                gap_ms: 30_000,
                time: TimeColumn::Rowtime
            }
        );
        let p = pump(
            "CREATE PUMP p AS INSERT INTO o SELECT STREAM ticker, AVG(price) OVER W1 AS a FROM s \
             WINDOW W1 AS (PARTITION BY ticker RANGE INTERVAL '1' MINUTE PRECEDING)",
        );
        assert_eq!(p.window, WindowSpec::SlidingRange { range_ms: 60_000 });
        assert!(p.select.contains("WINDOW W1 AS (PARTITION BY ticker ORDER BY \"ROWTIME\" RANGE BETWEEN INTERVAL '1' MINUTE PRECEDING AND CURRENT ROW)"), "{}", p.select);
        let p = pump(
            "CREATE PUMP p AS INSERT INTO o SELECT ticker, SUM(x) OVER (PARTITION BY ticker ROWS 10 PRECEDING) FROM s",
        );
        assert_eq!(
            p.window,
            WindowSpec::SlidingRows {
                rows: 10,
                partition_by: vec!["ticker".into()]
            }
        );
        let p = pump(
            "CREATE PUMP p AS INSERT INTO o SELECT STREAM ticker, FLOOR(event_time TO MINUTE), COUNT(*) AS c FROM s \
             WINDOWED BY STAGGER (PARTITION BY FLOOR(event_time TO MINUTE), ticker RANGE INTERVAL '1' MINUTE)",
        );
        assert_eq!(
            p.window,
            WindowSpec::Stagger {
                size_ms: 60_000,
                partition_by: vec!["date_trunc('minute', event_time)".into(), "ticker".into()]
            }
        );
        assert!(p.select.contains("SELECT  ticker, date_trunc('minute', event_time), COUNT(*) AS c FROM s GROUP BY date_trunc('minute', event_time), ticker"), "{}", p.select);
        let p = pump("CREATE PUMP p AS INSERT INTO o SELECT * FROM s WHERE price > 10");
        assert_eq!(p.window, WindowSpec::None);
    }

    #[test]
    fn table_functions_parse_and_keep_their_rowtime() {
        let p = pump(
            "CREATE PUMP p AS INSERT INTO o SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING(\n\
             CURSOR(SELECT STREAM \"ünïcödé\" FROM \"S\" WHERE x > 1), 'ünïcödé', 5, 60,)) WHERE ITEM_COUNT > 2",
        );
        assert_eq!(p.source, "S");
        assert_eq!(p.window, WindowSpec::None);
        let f = p.function.unwrap();
        assert_eq!(
            f.kind,
            FunctionKind::TopK {
                column: "ünïcödé".into(),
                k: 5,
                window_ms: 60_000
            }
        );
        assert_eq!(
            f.cursor,
            "SELECT \"ROWTIME\" AS \"__rowtime\", \"ünïcödé\" FROM \"S\" WHERE x > 1"
        );
        assert_eq!(
            p.select,
            "SELECT  * EXCLUDE (\"ROWTIME\") FROM \"__table_function\" WHERE ITEM_COUNT > 2"
        );
        let p = pump(
            "CREATE PUMP p AS INSERT INTO o SELECT a FROM TABLE(RANDOM_CUT_FOREST_WITH_EXPLANATION(CURSOR(SELECT DISTINCT a FROM s), 10, 20, 30, 2, true))",
        );
        assert_eq!(
            p.function.as_ref().unwrap().kind,
            FunctionKind::RandomCutForest {
                trees: 10,
                sample: 20,
                decay: 30,
                shingle: 2,
                explain: Some(true)
            }
        );
        assert!(
            p.function
                .unwrap()
                .cursor
                .starts_with("SELECT DISTINCT \"ROWTIME\"")
        );
    }

    #[test]
    fn errors_name_their_position() {
        let e = parse_application("CREATE PUMP p AS INSERT INTO o\nSELECT k FROM s GROUP BY STEP(ROWTIME BY INTERVAL 'x' MINUTE)")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Line: 2"), "{e}");
        let e = parse_application("CREATE STREAM s (a BLOB)")
            .unwrap_err()
            .to_string();
        assert!(e.contains("BLOB") && e.contains("Column: 20"), "{e}");
        assert!(parse_application("DROP STREAM s").is_err());
        assert!(
            parse_application("CREATE PUMP p AS INSERT INTO o SELECT 'unterminated FROM s")
                .is_err()
        );
        assert!(parse_application("   ").is_err());
        let e = parse_application("CREATE PUMP p AS INSERT INTO o SELECT k FROM s GROUP BY tumble(INTERVAL '1' MINUTE), session(INTERVAL '1' MINUTE)")
            .unwrap_err()
            .to_string();
        assert!(e.contains("one window"), "{e}");
    }
}
