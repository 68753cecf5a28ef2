//! Managing applications: create from SQL, start (from a starting position), stop,
//! describe (status, input positions, lag, counters), list, delete; reference-table
//! reloads and callbacks. Each running application has a thread of its own
//! (`tidelog-app-<name>`) stepping its [`AppRunner`].
//!
//! Files: `<data_dir>/analytics/applications/<name>/application` holds the definition
//! and whether the application should run (store.rs frames it); the runner's intent and
//! checkpoint sit beside it. [`Applications::open`] reads every definition and restarts
//! the applications that were running, each from its checkpoint, so applications
//! survive engine restarts and crashes.
//!
//! Invariants: a name is unique; a definition is checked completely (names, streams,
//! SQL planned by DataFusion) before anything is written; `delete` removes nothing of
//! an application that is still running (it is stopped first); closing the manager
//! stops the threads but keeps "should run", so the next `open` resumes them.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tidelog::Engine;

use super::config::{AppDefinition, InputKind, OutputKind, StartFrom, validate_app_name};
use super::runner::{AppRunner, Callback, Counters, check, firehose_error};
use super::store::{self, MAGIC_DEFINITION};
use crate::error::{Error, Result};

/// An application's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppStatus {
    /// Created or stopped.
    Ready,
    /// Its thread runs epochs.
    Running,
    /// It stopped on an error (see [`AppDescription::last_error`]); start it again
    /// once the cause is fixed.
    Failed,
}

impl AppStatus {
    /// Kinesis Data Analytics' name (`READY`, `RUNNING`, `FAILED`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Ready => "READY",
            Self::Running => "RUNNING",
            Self::Failed => "FAILED",
        }
    }
}

/// What [`Applications::describe`] shows.
#[derive(Debug, Clone)]
pub struct AppDescription {
    /// The definition.
    pub definition: AppDefinition,
    /// Its status.
    pub status: AppStatus,
    /// The last committed epoch.
    pub epoch: u64,
    /// The ROWTIME watermark, ms (`None` before the first epoch).
    pub watermark_ms: Option<i64>,
    /// How far the watermark is behind the engine's clock, ms.
    pub lag_ms: i64,
    /// Next sequence number to read, per input shard.
    pub input_positions: BTreeMap<String, u128>,
    /// Counters.
    pub counters: Counters,
    /// The error that stopped it, if it failed.
    pub last_error: Option<String>,
    /// True if its last epoch read every shard to its end.
    pub caught_up: bool,
}

impl AppDescription {
    /// The description as JSON (`{"Name", "Status", "Epoch", "WatermarkMs", "LagMs",
    /// "InputPositions", "RecordsIn", "RecordsOut", "Errors", "CaughtUp", "LastError",
    /// "Definition"}`; sequence numbers as text).
    pub fn to_json(&self) -> String {
        let positions: serde_json::Map<String, Value> = self
            .input_positions
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.to_string())))
            .collect();
        let definition: Value =
            serde_json::from_str(&self.definition.to_json()).unwrap_or(Value::Null);
        json!({
            "Name": self.definition.name,
            "Status": self.status.name(),
            "Epoch": self.epoch,
            "WatermarkMs": self.watermark_ms,
            "LagMs": self.lag_ms,
            "InputPositions": positions,
            "RecordsIn": self.counters.records_in,
            "RecordsOut": self.counters.records_out,
            "Errors": self.counters.errors,
            "CaughtUp": self.caught_up,
            "LastError": self.last_error,
            "Definition": definition,
        })
        .to_string()
    }
}

#[derive(Default)]
struct Status {
    status: Option<AppStatus>,
    epoch: u64,
    watermark: Option<i64>,
    positions: BTreeMap<String, u128>,
    counters: Counters,
    last_error: Option<String>,
    caught_up: bool,
    steps: u64,
    idle: bool,
    reloads: Vec<String>,
}

#[derive(Default)]
struct Shared {
    status: Mutex<Status>,
    changed: Condvar,
}

struct Running {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

struct Entry {
    def: AppDefinition,
    shared: Arc<Shared>,
    running: Option<Running>,
    callbacks: Vec<(String, Callback)>,
}

struct Inner {
    engine: Engine,
    /// For outputs into delivery streams.
    firehose: Option<tidelog_firehose::Firehose>,
    root: PathBuf,
    apps: Mutex<BTreeMap<String, Entry>>,
    /// Held through `start`, so two starts of one application cannot both open it.
    starting: Mutex<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let apps = std::mem::take(self.apps.get_mut().unwrap_or_else(|p| p.into_inner()));
        for (_, entry) in apps {
            if let Some(r) = entry.running {
                r.stop.store(true, Ordering::SeqCst);
                // The last handle may go from a callback, on the application's own
                // thread: that thread sees the flag and ends after the callback.
                if r.thread.thread().id() != std::thread::current().id() {
                    let _ = r.thread.join();
                }
            }
        }
    }
}

/// The applications of an engine (see the module doc). Cheap to clone; the last
/// clone dropped stops the threads like [`close`](Applications::close).
#[derive(Clone)]
pub struct Applications {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Applications {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applications")
            .field("root", &self.inner.root)
            .finish_non_exhaustive()
    }
}

fn write_definition(dir: &Path, def: &AppDefinition, run: bool) -> Result<()> {
    let def_json: Value = serde_json::from_str(&def.to_json()).unwrap_or(Value::Null);
    let body = json!({"Definition": def_json, "Run": run}).to_string();
    store::write_framed(&dir.join("application"), MAGIC_DEFINITION, body.as_bytes())
}

fn read_definition(dir: &Path) -> Result<Option<(AppDefinition, bool)>> {
    let Some(body) = store::read_framed(&dir.join("application"), MAGIC_DEFINITION)? else {
        return Ok(None);
    };
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| Error::State(format!("{}: {e}", dir.display())))?;
    let def = AppDefinition::from_json(&v["Definition"].to_string())?;
    Ok(Some((def, v["Run"].as_bool().unwrap_or(false))))
}

impl Applications {
    /// The applications stored under the engine's data directory; those that were
    /// running are started again from their checkpoints (one that cannot start is
    /// FAILED with the reason, and the others still start).
    pub fn open(engine: &Engine) -> Result<Self> {
        Self::open_inner(engine, None)
    }

    /// [`open`](Self::open) with the Firehose whose delivery streams applications may
    /// output into (`AppDefinition::with_delivery_stream_output`). An application
    /// with such an output cannot be created or started without one.
    pub fn open_with_firehose(
        engine: &Engine,
        firehose: &tidelog_firehose::Firehose,
    ) -> Result<Self> {
        Self::open_inner(engine, Some(firehose.clone()))
    }

    fn open_inner(engine: &Engine, firehose: Option<tidelog_firehose::Firehose>) -> Result<Self> {
        let root = engine
            .config()
            .data_dir
            .join("analytics")
            .join("applications");
        std::fs::create_dir_all(&root).map_err(|e| Error::Io {
            path: root.display().to_string(),
            source: e,
        })?;
        let this = Self {
            inner: Arc::new(Inner {
                engine: engine.clone(),
                firehose,
                root: root.clone(),
                apps: Mutex::new(BTreeMap::new()),
                starting: Mutex::new(()),
            }),
        };
        let mut resume = Vec::new();
        let entries = std::fs::read_dir(&root).map_err(|e| Error::Io {
            path: root.display().to_string(),
            source: e,
        })?;
        for entry in entries.flatten() {
            let dir = entry.path();
            if !dir.is_dir() {
                continue;
            }
            let Some((def, run)) = read_definition(&dir)? else {
                continue;
            };
            if run {
                resume.push(def.name.clone());
            }
            this.lock().insert(
                def.name.clone(),
                Entry {
                    def,
                    shared: Arc::new(Shared::default()),
                    running: None,
                    callbacks: Vec::new(),
                },
            );
        }
        for name in resume {
            if let Err(e) = this.start(&name, StartFrom::LastStoppedPoint) {
                let apps = this.lock();
                if let Some(entry) = apps.get(&name) {
                    let mut s = entry
                        .shared
                        .status
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    s.status = Some(AppStatus::Failed);
                    s.last_error = Some(e.to_string());
                }
            }
        }
        Ok(this)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.inner.apps.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn dir(&self, name: &str) -> PathBuf {
        store::app_dir(&self.inner.root, name)
    }

    /// Creates an application (READY): its names, streams and SQL are checked first.
    pub fn create(&self, def: AppDefinition) -> Result<()> {
        def.validate()?;
        if self.lock().contains_key(&def.name) {
            return Err(Error::Exists(format!("application {:?}", def.name)));
        }
        match def.input_kind {
            InputKind::Stream => {
                self.inner
                    .engine
                    .describe_stream_summary(&def.input_stream)
                    .map_err(|e| {
                        Error::NotFound(format!("input stream {:?}: {e}", def.input_stream))
                    })?;
            }
            InputKind::DeliveryStream => {
                self.direct_put("input", &def.input_stream)?;
            }
        }
        for o in &def.outputs {
            match o.kind {
                OutputKind::Stream => {
                    self.inner
                        .engine
                        .describe_stream_summary(&o.stream)
                        .map_err(|e| {
                            Error::NotFound(format!("output stream {:?}: {e}", o.stream))
                        })?;
                }
                OutputKind::DeliveryStream => self.direct_put("output into", &o.stream)?,
            }
        }
        check(&def)?;
        let mut apps = self.lock();
        if apps.contains_key(&def.name) {
            return Err(Error::Exists(format!("application {:?}", def.name)));
        }
        let dir = self.dir(&def.name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| Error::Io {
                path: dir.display().to_string(),
                source: e,
            })?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
            path: dir.display().to_string(),
            source: e,
        })?;
        write_definition(&dir, &def, false)?;
        store::sync_dir(&self.inner.root)?;
        apps.insert(
            def.name.clone(),
            Entry {
                def,
                shared: Arc::new(Shared::default()),
                running: None,
                callbacks: Vec::new(),
            },
        );
        Ok(())
    }

    /// Checks that `name` is a DirectPut delivery stream of the Firehose.
    fn direct_put(&self, what: &str, name: &str) -> Result<()> {
        let Some(firehose) = &self.inner.firehose else {
            return Err(Error::Invalid(format!(
                "{what} delivery stream {name:?}: these applications have no Firehose (Applications::open_with_firehose)"
            )));
        };
        let d = firehose
            .describe_delivery_stream(name)
            .map_err(|e| firehose_error(name, e))?;
        if d.stream_type != "DirectPut" {
            return Err(Error::Invalid(format!(
                "{what} delivery stream {name:?}: it reads a Kinesis stream (only a DirectPut delivery stream has a buffer of its own; read the Kinesis stream instead)"
            )));
        }
        Ok(())
    }

    /// Starts an application's thread: `LastStoppedPoint` resumes from its checkpoint
    /// (the oldest retained record if it never ran); another position discards its
    /// window state and starts there.
    pub fn start(&self, name: &str, from: StartFrom) -> Result<()> {
        let _starting = self
            .inner
            .starting
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let (def, shared, callbacks) = {
            let apps = self.lock();
            let entry = apps
                .get(name)
                .ok_or_else(|| Error::NotFound(format!("application {name:?}")))?;
            if entry.running.is_some() {
                return Err(Error::State(format!(
                    "application {name:?} is already running"
                )));
            }
            (
                entry.def.clone(),
                Arc::clone(&entry.shared),
                entry.callbacks.clone(),
            )
        };
        let dir = self.dir(name);
        let runner = AppRunner::open_with_firehose(
            &self.inner.engine,
            self.inner.firehose.clone(),
            def.clone(),
            &dir,
            from,
            callbacks,
        )?;
        write_definition(&dir, &def, true)?;
        {
            let mut s = shared.status.lock().unwrap_or_else(|p| p.into_inner());
            s.status = Some(AppStatus::Running);
            s.last_error = None;
            publish(&mut s, &runner);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            let shared = Arc::clone(&shared);
            let engine = self.inner.engine.clone();
            std::thread::Builder::new()
                .name(format!("tidelog-app-{}", truncate(name, 20)))
                .spawn(move || run(engine, runner, shared, stop))
                .map_err(|e| Error::Io {
                    path: "(thread)".into(),
                    source: e,
                })?
        };
        let mut apps = self.lock();
        match apps.get_mut(name) {
            Some(entry) => entry.running = Some(Running { stop, thread }),
            None => {
                stop.store(true, Ordering::SeqCst);
                let _ = thread.join();
                return Err(Error::NotFound(format!("application {name:?}")));
            }
        }
        Ok(())
    }

    fn halt(&self, name: &str) -> Result<bool> {
        let running = {
            let mut apps = self.lock();
            let entry = apps
                .get_mut(name)
                .ok_or_else(|| Error::NotFound(format!("application {name:?}")))?;
            if entry
                .running
                .as_ref()
                .is_some_and(|r| r.thread.thread().id() == std::thread::current().id())
            {
                return Err(Error::State(format!(
                    "application {name:?} cannot be stopped or deleted from its own thread (a callback)"
                )));
            }
            entry.running.take()
        };
        let Some(running) = running else {
            return Ok(false);
        };
        running.stop.store(true, Ordering::SeqCst);
        running
            .thread
            .join()
            .map_err(|_| Error::State(format!("application {name:?}: its thread panicked")))?;
        Ok(true)
    }

    /// Stops an application (its current epoch finishes and commits first).
    pub fn stop(&self, name: &str) -> Result<()> {
        self.halt(name)?;
        let apps = self.lock();
        let entry = apps
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("application {name:?}")))?;
        write_definition(&self.dir(name), &entry.def, false)?;
        let mut s = entry
            .shared
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if s.status == Some(AppStatus::Running) {
            s.status = Some(AppStatus::Ready);
        }
        Ok(())
    }

    /// Deletes an application (stopped first): its definition, checkpoint and state.
    /// The streams it wrote stay.
    pub fn delete(&self, name: &str) -> Result<()> {
        validate_app_name("application name", name)?;
        self.halt(name)?;
        let dir = self.dir(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| Error::Io {
                path: dir.display().to_string(),
                source: e,
            })?;
            store::sync_dir(&self.inner.root)?;
        }
        self.lock().remove(name);
        Ok(())
    }

    /// An application's status, positions, lag and counters.
    pub fn describe(&self, name: &str) -> Result<AppDescription> {
        let apps = self.lock();
        let entry = apps
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("application {name:?}")))?;
        let s = entry
            .shared
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = self.inner.engine.config().clock.now_ms() as i64;
        Ok(AppDescription {
            definition: entry.def.clone(),
            status: s.status.unwrap_or(AppStatus::Ready),
            epoch: s.epoch,
            watermark_ms: s.watermark,
            lag_ms: s.watermark.map_or(0, |w| (now - w).max(0)),
            input_positions: s.positions.clone(),
            counters: s.counters,
            last_error: s.last_error.clone(),
            caught_up: s.caught_up,
        })
    }

    /// Every application's name and status, by name.
    pub fn list(&self) -> Vec<(String, AppStatus)> {
        self.lock()
            .iter()
            .map(|(n, e)| {
                let s = e.shared.status.lock().unwrap_or_else(|p| p.into_inner());
                (n.clone(), s.status.unwrap_or(AppStatus::Ready))
            })
            .collect()
    }

    /// Adds a callback for an in-application stream (while the application is not
    /// running; it applies from the next start).
    pub fn add_callback(&self, name: &str, in_app_stream: &str, f: Callback) -> Result<()> {
        let mut apps = self.lock();
        let entry = apps
            .get_mut(name)
            .ok_or_else(|| Error::NotFound(format!("application {name:?}")))?;
        if entry.running.is_some() {
            return Err(Error::State(format!(
                "application {name:?} is running: stop it to add a callback"
            )));
        }
        let compiled = check(&entry.def)?;
        if !compiled.streams().contains_key(in_app_stream) {
            return Err(Error::NotFound(format!(
                "in-application stream {in_app_stream:?} of {name:?}"
            )));
        }
        entry.callbacks.push((in_app_stream.to_string(), f));
        Ok(())
    }

    /// Removes every callback of an application (while it is not running). The
    /// callbacks are dropped once no thread uses them: at once here, since a stopped
    /// application has no thread.
    pub fn clear_callbacks(&self, name: &str) -> Result<()> {
        let mut apps = self.lock();
        let entry = apps
            .get_mut(name)
            .ok_or_else(|| Error::NotFound(format!("application {name:?}")))?;
        if entry.running.is_some() {
            return Err(Error::State(format!(
                "application {name:?} is running: stop it to remove its callbacks"
            )));
        }
        entry.callbacks.clear();
        Ok(())
    }

    /// Reloads a reference table from its file: checked now, used from the next epoch
    /// (a running application picks it up before its next step).
    pub fn reload_reference(&self, name: &str, table: &str) -> Result<()> {
        let apps = self.lock();
        let entry = apps
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("application {name:?}")))?;
        let r = entry
            .def
            .reference_tables
            .iter()
            .find(|r| r.name == table)
            .ok_or_else(|| Error::NotFound(format!("reference table {table:?} of {name:?}")))?;
        super::runner::load_reference(Path::new(&r.path), &r.schema)?;
        if entry.running.is_some() {
            let mut s = entry
                .shared
                .status
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            s.reloads.push(table.to_string());
            let steps = s.steps;
            drop(s);
            // Wait until the thread took it (so the caller's next records see it).
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut s = entry
                .shared
                .status
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            while !s.reloads.is_empty() && s.steps == steps && Instant::now() < deadline {
                s = entry
                    .shared
                    .changed
                    .wait_timeout(s, Duration::from_millis(50))
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
                if s.status != Some(AppStatus::Running) {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Waits until a running application has read everything its input held when
    /// called and has nothing left to do at the clock's current time (for tests and
    /// scripts). Errors if it fails, stops, or `timeout` passes.
    pub fn wait_idle(&self, name: &str, timeout: Duration) -> Result<()> {
        let shared = {
            let apps = self.lock();
            let entry = apps
                .get(name)
                .ok_or_else(|| Error::NotFound(format!("application {name:?}")))?;
            Arc::clone(&entry.shared)
        };
        let deadline = Instant::now() + timeout;
        let mut s = shared.status.lock().unwrap_or_else(|p| p.into_inner());
        let start = s.steps;
        loop {
            match s.status {
                Some(AppStatus::Running) => {}
                Some(AppStatus::Failed) => {
                    return Err(Error::State(format!(
                        "application {name:?} failed: {}",
                        s.last_error.clone().unwrap_or_default()
                    )));
                }
                _ => return Err(Error::State(format!("application {name:?} is not running"))),
            }
            if s.steps >= start + 2 && s.idle && s.caught_up {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::State(format!(
                    "application {name:?}: not idle after {timeout:?}"
                )));
            }
            s = shared
                .changed
                .wait_timeout(s, (deadline - now).min(Duration::from_millis(100)))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Stops every application's thread, keeping whether each should run (the next
    /// [`open`](Self::open) resumes them).
    pub fn close(&self) {
        let names: Vec<String> = self.lock().keys().cloned().collect();
        for n in names {
            let _ = self.halt(&n);
        }
    }
}

fn truncate(name: &str, n: usize) -> &str {
    match name.char_indices().nth(n) {
        Some((i, _)) => &name[..i],
        None => name,
    }
}

fn publish(s: &mut Status, runner: &AppRunner) {
    let state = runner.state();
    s.epoch = state.epoch;
    s.watermark = (state.watermark != i64::MIN).then_some(state.watermark);
    s.positions = state.positions.clone();
    s.counters = state.counters;
    s.caught_up = runner.caught_up();
}

fn run(engine: Engine, mut runner: AppRunner, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let (input, stream) = {
        let (e, s) = runner.input();
        (e.clone(), s.to_string())
    };
    while !stop.load(Ordering::SeqCst) {
        let reloads = {
            let mut s = shared.status.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut s.reloads)
        };
        let mut failure = None;
        for table in reloads {
            if let Err(e) = runner.reload_reference(&table) {
                failure = Some(e);
            }
        }
        // The shards' counters before the step, so a record committed during it wakes
        // the wait below.
        let watch = input
            .list_shards(&stream, tidelog::engine::ShardFilter::AtLatest)
            .ok()
            .and_then(|shards| {
                let ids: Vec<String> = shards.into_iter().map(|s| s.shard_id).collect();
                input.watch_shards(&stream, &ids).ok()
            });
        let seen = watch.as_ref().map(|w| w.versions());
        let result = match failure {
            Some(e) => Err(e),
            None => runner.step(),
        };
        let mut s = shared.status.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(report) => {
                publish(&mut s, &runner);
                s.steps += 1;
                s.idle = report.idle;
                drop(s);
                shared.changed.notify_all();
                if report.idle {
                    // Until a record comes, or the next window is due to close (at
                    // most 20 ms: a manual clock moves without waking anyone).
                    let now = engine.config().clock.now_ms() as i64;
                    let due = runner
                        .next_close_ms()
                        .map_or(20, |t| (t - now).clamp(1, 20) as u64);
                    let wait = Duration::from_millis(due);
                    match (&watch, &seen) {
                        (Some(w), Some(seen)) => {
                            w.wait(seen, wait);
                        }
                        _ => std::thread::sleep(wait),
                    }
                }
            }
            Err(e) => {
                s.status = Some(AppStatus::Failed);
                s.last_error = Some(e.to_string());
                s.steps += 1;
                drop(s);
                shared.changed.notify_all();
                return;
            }
        }
    }
}
