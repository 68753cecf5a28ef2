//! The Redshift path, delivered to PostgreSQL: a staged batch is loaded with `COPY ...
//! FROM STDIN`, exactly once.
//!
//! Exactly once: one transaction inserts the staged object's key into
//! `tidelog_firehose_loads (delivery_stream, object_key)` (its primary key) and runs the
//! COPY; a key already there means the batch was loaded (by a run that crashed before
//! its checkpoint, or by an attempt whose answer was lost), and the transaction is
//! rolled back without loading anything again. A failure anywhere rolls everything back.
//!
//! Formats: CSV and text COPY with translated options straight into the table; Redshift's
//! `JSON 'auto'` through a temporary table of documents and `jsonb_populate_record`
//! (keys name columns); `JSON 'noshred'` with each document into the one column.
#![forbid(unsafe_code)]

use std::str::FromStr;

use bytes::Bytes;
use futures::SinkExt;

use crate::model::plan::{CopyFormat, PostgresPlan};

/// The table that records loaded objects.
pub const LOADS_TABLE: &str = "tidelog_firehose_loads";

/// A connection and the task driving it.
pub struct Connection {
    client: tokio_postgres::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a load did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loaded {
    /// The rows were copied now.
    Now(u64),
    /// The object had been loaded before: nothing was done.
    Before,
}

/// Connects (plain TCP or a Unix socket, no TLS).
pub fn connect(
    runtime: &tokio::runtime::Handle,
    plan: &PostgresPlan,
) -> Result<Connection, String> {
    let mut config = tokio_postgres::Config::from_str(&plan.url).map_err(|e| e.to_string())?;
    if let Some(u) = &plan.user {
        config.user(u);
    }
    if let Some(p) = &plan.password {
        config.password(p);
    }
    config.connect_timeout(std::time::Duration::from_secs(10));
    runtime.block_on(async move {
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let task = tokio::spawn(async move {
            let _ = connection.await;
        });
        // Two delivery streams connecting at once would race in CREATE TABLE IF NOT
        // EXISTS (PostgreSQL then fails one with a unique violation on pg_type): a
        // transaction-scoped advisory lock makes the creations take turns.
        client
            .batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock(hashtext('{LOADS_TABLE}')); \
                 CREATE TABLE IF NOT EXISTS {LOADS_TABLE} (\
                 delivery_stream text NOT NULL, object_key text NOT NULL, \
                 loaded_at timestamptz NOT NULL DEFAULT now(), \
                 PRIMARY KEY (delivery_stream, object_key)); COMMIT"
            ))
            .await
            .map_err(|e| format!("create {LOADS_TABLE}: {}", describe(&e)))?;
        Ok(Connection { client, task })
    })
}

fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// True if the connection can no longer be used.
pub fn is_closed(conn: &Connection) -> bool {
    conn.client.is_closed()
}

/// The JSON documents of `data` (concatenated or whitespace-separated objects), each
/// as one compact line; `lower_keys` lower-cases top-level keys.
fn documents(data: &[u8], lower_keys: bool) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(data.len());
    for (i, doc) in serde_json::Deserializer::from_slice(data)
        .into_iter::<serde_json::Value>()
        .enumerate()
    {
        let mut doc = doc.map_err(|e| format!("record document {i} is not JSON: {e}"))?;
        if lower_keys && let serde_json::Value::Object(map) = &mut doc {
            let lowered: serde_json::Map<String, serde_json::Value> = std::mem::take(map)
                .into_iter()
                .map(|(k, v)| (k.to_lowercase(), v))
                .collect();
            *map = lowered;
        }
        serde_json::to_writer(&mut out, &doc).map_err(|e| e.to_string())?;
        out.push(b'\n');
    }
    Ok(out)
}

/// Loads `data` (the batch's records as staged, uncompressed) from the object `key`.
pub fn load(
    runtime: &tokio::runtime::Handle,
    conn: &mut Connection,
    plan: &PostgresPlan,
    delivery_stream: &str,
    key: &str,
    data: Vec<u8>,
) -> Result<Loaded, String> {
    let columns = if plan.columns.is_empty() {
        String::new()
    } else {
        format!(" ({})", plan.columns.join(", "))
    };
    // 0x01 and 0x02 never appear in compact JSON (control characters are escaped), so
    // each line is one field, taken verbatim.
    const VERBATIM: &str = "FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02'";
    let (copy_sql, after, payload) = match &plan.format {
        CopyFormat::Direct(options) => (
            format!("COPY {}{columns} FROM STDIN WITH ({options})", plan.table),
            None,
            data,
        ),
        CopyFormat::JsonDocument => (
            format!("COPY {}{columns} FROM STDIN WITH ({VERBATIM})", plan.table),
            None,
            documents(&data, false)?,
        ),
        CopyFormat::JsonAuto { ignore_case } => {
            let select = if plan.columns.is_empty() {
                "r.*".to_string()
            } else {
                plan.columns
                    .iter()
                    .map(|c| format!("r.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            (
                format!("COPY tidelog_stage (doc) FROM STDIN WITH ({VERBATIM})"),
                Some(format!(
                    "INSERT INTO {}{columns} SELECT {select} FROM tidelog_stage s \
                     CROSS JOIN LATERAL jsonb_populate_record(NULL::{}, s.doc::jsonb) r",
                    plan.table, plan.table
                )),
                documents(&data, *ignore_case)?,
            )
        }
    };
    let json_auto = matches!(plan.format, CopyFormat::JsonAuto { .. });
    let client = &mut conn.client;
    runtime.block_on(async move {
        let tx = client.transaction().await.map_err(|e| describe(&e))?;
        let claimed = tx
            .execute(
                &format!(
                    "INSERT INTO {LOADS_TABLE} (delivery_stream, object_key) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING"
                ),
                &[&delivery_stream, &key],
            )
            .await
            .map_err(|e| describe(&e))?;
        if claimed == 0 {
            tx.rollback().await.map_err(|e| describe(&e))?;
            return Ok(Loaded::Before);
        }
        if json_auto {
            tx.batch_execute("CREATE TEMP TABLE tidelog_stage (doc text) ON COMMIT DROP")
                .await
                .map_err(|e| describe(&e))?;
        }
        let sink = tx
            .copy_in::<_, Bytes>(copy_sql.as_str())
            .await
            .map_err(|e| describe(&e))?;
        futures::pin_mut!(sink);
        sink.send(Bytes::from(payload))
            .await
            .map_err(|e| describe(&e))?;
        let mut rows = sink.finish().await.map_err(|e| describe(&e))?;
        if let Some(insert) = after {
            rows = tx
                .execute(insert.as_str(), &[])
                .await
                .map_err(|e| describe(&e))?;
        }
        tx.commit().await.map_err(|e| describe(&e))?;
        Ok(Loaded::Now(rows))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_and_lower_keys() {
        let out = documents(
            b"{\"A\":1,\"b\":\"x\\u0001\"}\n{\"C\": [1, 2]} {\"d\":null}",
            true,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"a\":1,\"b\":\"x\\u0001\"}\n{\"c\":[1,2]}\n{\"d\":null}\n"
        );
        assert!(documents(b"{\"a\":", false).is_err());
    }
}
