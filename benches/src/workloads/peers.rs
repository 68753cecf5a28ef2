//! The peers a user weighs tidelog against, measured in the same process on the same
//! data as tidelog itself: SQLite (WAL, one INSERT per record, `synchronous=FULL` for
//! durable and `NORMAL` for not) and redb (an embedded Rust B-tree store, used as an
//! append-only log keyed by sequence number; commits `Immediate` for durable and `None`
//! for not). tidelog is opened as the README opens it (`EngineConfig::new`, limits off:
//! the peers have none), one stream of one shard, and called from this unpinned thread.
//!
//! Cases, each store in turn, one thread, 1 KiB records (`--record-bytes`):
//! - `durable`: one record per call, durable when the call returns (closed loop);
//! - `os`: one record per call, in the OS's hands when it returns (survives the
//!   process, not the machine);
//! - `batch`: `--log-mb` MB of records (default 200) in calls (transactions) of
//!   [`BATCH`], not durable per call, then made durable once: records/s;
//! - `scan`: those records after a clean close: the reopen's time, then a read of every
//!   one in order (one byte of each touched), page cache warm: MB/s of the read.
//!
//! Invariants: every store gets the same record bytes and counts; each case runs in a
//! directory of its own; a scan that finds a different number of records than was
//! written fails the workload (a fast wrong answer is not a figure).
#![forbid(unsafe_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use redb::TableDefinition;
use tidelog::{Durability, Engine, EngineConfig, Limits, PutOptions, PutRecordsEntry};

use super::{Ctx, Result, time_loop};
use crate::pace::Pace;
use crate::report::Row;

/// Records a call (transaction) of the batch case carries.
pub const BATCH: usize = 500;
/// The one table of redb's log.
const TABLE: TableDefinition<'static, u64, &[u8]> = TableDefinition::new("log");
/// The stream and shard tidelog's cases use.
const STREAM: &str = "peers";
const SHARD: &str = "shardId-000000000000";

/// The stores compared, in report order.
const STORES: [Store; 3] = [Store::Tidelog, Store::Sqlite, Store::Redb];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    Tidelog,
    Sqlite,
    Redb,
}

impl Store {
    fn key(self) -> &'static str {
        match self {
            Self::Tidelog => "tidelog",
            Self::Sqlite => "sqlite",
            Self::Redb => "redb",
        }
    }

    fn describe(self, durable: bool) -> &'static str {
        match (self, durable) {
            (Self::Tidelog, true) => "tidelog put_record, durability sync",
            (Self::Tidelog, false) => "tidelog put_record, durability os",
            (Self::Sqlite, true) => "SQLite WAL, synchronous=FULL, one INSERT per commit",
            (Self::Sqlite, false) => "SQLite WAL, synchronous=NORMAL, one INSERT per commit",
            (Self::Redb, true) => "redb, one insert per commit, Durability::Immediate",
            (Self::Redb, false) => "redb, one insert per commit, Durability::None",
        }
    }
}

/// One open store, ready to append.
enum Open {
    Tidelog(Engine),
    Sqlite(rusqlite::Connection),
    Redb(redb::Database, u64),
}

fn tidelog_config(dir: &Path) -> EngineConfig {
    let mut config = EngineConfig::new(dir);
    config.limits = Limits::unlimited();
    config
}

fn sqlite_open(path: &Path, durable: bool) -> Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("SQLite refused WAL mode (journal_mode is {mode})").into());
    }
    conn.execute_batch(if durable {
        "PRAGMA synchronous=FULL;"
    } else {
        "PRAGMA synchronous=NORMAL;"
    })?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, data BLOB NOT NULL);",
    )?;
    Ok(conn)
}

fn redb_durability(durable: bool) -> redb::Durability {
    if durable {
        redb::Durability::Immediate
    } else {
        redb::Durability::None
    }
}

impl Open {
    fn new(store: Store, dir: &Path, durable: bool) -> Result<Self> {
        Ok(match store {
            Store::Tidelog => {
                let engine = Engine::open(tidelog_config(dir))?;
                engine.create_stream(STREAM, 1)?;
                Self::Tidelog(engine)
            }
            Store::Sqlite => Self::Sqlite(sqlite_open(&dir.join("log.sqlite"), durable)?),
            Store::Redb => {
                let db = redb::Database::create(dir.join("log.redb"))?;
                let mut tx = db.begin_write()?;
                tx.set_durability(redb::Durability::Immediate);
                tx.open_table(TABLE)?;
                tx.commit()?;
                Self::Redb(db, 0)
            }
        })
    }

    /// Appends one record in a call (transaction) of its own.
    fn append(&mut self, data: &[u8], durable: bool) -> Result<()> {
        match self {
            Self::Tidelog(engine) => {
                let options = PutOptions {
                    durability: Some(if durable {
                        Durability::Sync
                    } else {
                        Durability::Os
                    }),
                    ..Default::default()
                };
                engine.put_record(STREAM, "k", data, options)?;
            }
            Self::Sqlite(conn) => {
                let mut insert = conn.prepare_cached("INSERT INTO log (data) VALUES (?1)")?;
                insert.execute([data])?;
            }
            Self::Redb(db, next) => {
                let mut tx = db.begin_write()?;
                tx.set_durability(redb_durability(durable));
                {
                    let mut table = tx.open_table(TABLE)?;
                    table.insert(*next, data)?;
                }
                tx.commit()?;
                *next += 1;
            }
        }
        Ok(())
    }

    /// Appends `count` records in one call (transaction), not durable.
    fn append_batch(&mut self, data: &[u8], count: usize) -> Result<()> {
        match self {
            Self::Tidelog(engine) => {
                let entries: Vec<PutRecordsEntry<'_>> = (0..count)
                    .map(|_| PutRecordsEntry {
                        partition_key: "k",
                        data,
                        explicit_hash_key: None,
                    })
                    .collect();
                let out = engine.put_records(STREAM, &entries, Some(Durability::Os))?;
                if out.failed_record_count > 0 {
                    return Err(format!("{} records failed", out.failed_record_count).into());
                }
            }
            Self::Sqlite(conn) => {
                let tx = conn.transaction()?;
                {
                    let mut insert = tx.prepare_cached("INSERT INTO log (data) VALUES (?1)")?;
                    for _ in 0..count {
                        insert.execute([data])?;
                    }
                }
                tx.commit()?;
            }
            Self::Redb(db, next) => {
                let mut tx = db.begin_write()?;
                tx.set_durability(redb::Durability::None);
                {
                    let mut table = tx.open_table(TABLE)?;
                    for _ in 0..count {
                        table.insert(*next, data)?;
                        *next += 1;
                    }
                }
                tx.commit()?;
            }
        }
        Ok(())
    }

    /// Makes everything appended so far durable, and closes the store.
    fn sync_and_close(self) -> Result<()> {
        match self {
            Self::Tidelog(engine) => {
                engine.flush()?;
                engine.close()?;
            }
            Self::Sqlite(conn) => {
                // A FULL checkpoint writes the WAL into the database file and syncs it.
                conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA wal_checkpoint(FULL);")?;
                conn.close().map_err(|(_, e)| e)?;
            }
            Self::Redb(db, _) => {
                let mut tx = db.begin_write()?;
                tx.set_durability(redb::Durability::Immediate);
                tx.commit()?;
                drop(db);
            }
        }
        Ok(())
    }
}

/// What a reopen and full scan measured.
struct Scan {
    records: u64,
    bytes: u64,
    /// From the call to a store ready to read.
    open: Duration,
    /// From there to the last record read (the close is not counted).
    scan: Duration,
}

/// Opens `store`'s data in `dir` again and reads every record in order, touching one
/// byte of each.
fn reopen_and_scan(store: Store, dir: &Path) -> Result<Scan> {
    let (mut records, mut bytes, mut touched) = (0u64, 0u64, 0u64);
    let mut visit = |data: &[u8]| {
        records += 1;
        bytes += data.len() as u64;
        touched = touched.wrapping_add(u64::from(data[data.len() / 2]));
    };
    let start = Instant::now();
    let (open, scan) = match store {
        Store::Tidelog => {
            let engine = Engine::open(tidelog_config(dir))?;
            let opened = Instant::now();
            let mut iterator =
                engine.get_shard_iterator(STREAM, SHARD, tidelog::StartingPosition::TrimHorizon)?;
            loop {
                let out = engine.get_records(&iterator, Some(10_000))?;
                if out.records.is_empty() {
                    break;
                }
                for r in out.records.iter() {
                    visit(r.data);
                }
                iterator = out
                    .next_shard_iterator
                    .ok_or("an open shard returned no next iterator")?;
            }
            let done = Instant::now();
            engine.close()?;
            (opened - start, done - opened)
        }
        Store::Sqlite => {
            let conn = sqlite_open(&dir.join("log.sqlite"), false)?;
            let opened = Instant::now();
            {
                let mut select = conn.prepare("SELECT data FROM log ORDER BY seq")?;
                let mut rows = select.query([])?;
                while let Some(row) = rows.next()? {
                    visit(row.get_ref(0)?.as_blob()?);
                }
            }
            let done = Instant::now();
            conn.close().map_err(|(_, e)| e)?;
            (opened - start, done - opened)
        }
        Store::Redb => {
            let db = redb::Database::open(dir.join("log.redb"))?;
            let opened = Instant::now();
            let tx = db.begin_read()?;
            let table = tx.open_table(TABLE)?;
            for entry in table.range::<u64>(..)? {
                let (_, value) = entry?;
                visit(value.value());
            }
            (opened - start, opened.elapsed())
        }
    };
    std::hint::black_box(touched);
    Ok(Scan {
        records,
        bytes,
        open,
        scan,
    })
}

/// Runs every case for every store.
pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let record_bytes = ctx.args.record_bytes.unwrap_or(1024);
    let data = vec![0x6Bu8; record_bytes];
    let (warmup, duration) = (
        ctx.args.warmup,
        ctx.args.duration.max(Duration::from_millis(1)),
    );
    let scan_bytes = usize::try_from(ctx.args.log_mb.saturating_mul(1_000_000))?;
    let scan_records = (scan_bytes / record_bytes.max(1) / BATCH).max(1) * BATCH;
    for store in STORES {
        for durable in [true, false] {
            let label = store.describe(durable);
            ctx.progress(&format!("{label}: one {record_bytes} B record per call"));
            let dir = ctx.case_dir(&format!("peers-{}-{durable}", store.key()))?;
            let mut open = Open::new(store, dir.path(), durable)?;
            let timed = time_loop(Pace::Closed, warmup, duration, Duration::ZERO, |_| {
                open.append(&data, durable)
            })?;
            open.sync_and_close()?;
            let case = if durable { "durable" } else { "os" };
            ctx.report.row(Row {
                key: format!("peers.{}.{case}", store.key()),
                workload: "peers",
                case: format!("{label}, {record_bytes} B"),
                mode: Pace::Closed.describe(),
                seconds: timed.seconds,
                ops: timed.ops,
                records: timed.ops,
                data_bytes: timed.ops * record_bytes as u64,
                cpu_ns: Some(timed.cpu_ns),
                latency: timed.latency,
            });
        }

        ctx.progress(&format!(
            "{}: {scan_records} records in calls of {BATCH}, then a reopen and a full scan",
            store.key()
        ));
        let dir = ctx.case_dir(&format!("peers-{}-scan", store.key()))?;
        let mut open = Open::new(store, dir.path(), false)?;
        let mut latency = crate::hist::Latency::new();
        let cpu_before = crate::sys::process_cpu_ns();
        let start = Instant::now();
        for _ in 0..scan_records / BATCH {
            let t = Instant::now();
            open.append_batch(&data, BATCH)?;
            latency.record(t.elapsed());
        }
        let seconds = start.elapsed().as_secs_f64();
        let cpu_ns = crate::sys::process_cpu_ns().saturating_sub(cpu_before);
        open.sync_and_close()?;
        let calls = (scan_records / BATCH) as u64;
        ctx.report.row(Row {
            key: format!("peers.{}.batch", store.key()),
            workload: "peers",
            case: format!(
                "{}: {BATCH} x {record_bytes} B per call, not durable per call",
                store.key()
            ),
            mode: format!("closed loop, {scan_records} records"),
            seconds,
            ops: calls,
            records: scan_records as u64,
            data_bytes: (scan_records * record_bytes) as u64,
            cpu_ns: Some(cpu_ns),
            latency,
        });

        let Scan {
            records,
            bytes,
            open,
            scan,
        } = reopen_and_scan(store, dir.path())?;
        if records != scan_records as u64 || bytes != (scan_records * record_bytes) as u64 {
            return Err(format!(
                "{}: the scan after reopen read {records} records ({bytes} B); \
                 {scan_records} were written",
                store.key()
            )
            .into());
        }
        ctx.report.figure(
            "peers",
            format!("peers.{}.reopen_ns", store.key()),
            format!(
                "{}: reopen of {scan_records} x {record_bytes} B after a clean close",
                store.key()
            ),
            open.as_nanos() as f64,
            "ns",
        );
        ctx.report.figure(
            "peers",
            format!("peers.{}.scan_mb_per_sec", store.key()),
            format!(
                "{}: then a full scan in order (page cache warm), MB/s",
                store.key()
            ),
            bytes as f64 / scan.as_secs_f64().max(1e-9) / 1e6,
            "MB/s",
        );
    }
    Ok(())
}
