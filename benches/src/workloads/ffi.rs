//! What the C ABI costs: the same requests through the Rust API (in this process) and
//! through the C ABI from a C program (`benches/c/ffi_bench.c`, a child process
//! linked statically against `libtidelog.a`), in two rounds (Rust then C, C then
//! Rust: drift of the machine's load weighs on both sides alike) whose histograms are
//! merged, on engines configured alike (the run's cores, pinning and preallocation;
//! limits off; a fresh engine and data directory per side and round):
//! - `os` put of `--record-size` (1 KiB) records back to back from one thread;
//! - get_records of 1 and of 100 records following the iterator through a prefilled
//!   shard, one byte of each record read through the zero-copy view or pointer;
//! - C only: put -> a callback subscriber (`tidelog_subscribe_with_callback`) sees the
//!   record, paced with sleeps at `--rate` (10,000/s), like the `e2e` workload.
//!
//! The C program is compiled by this workload (`cc`, or `$CC`: `-O2 -std=c11 -Wall
//! -Wextra -Werror`) from the source and header embedded in this binary, against the
//! `libtidelog.a` beside this binary (same target directory and profile: `make bench`
//! builds it first). It prints its histograms as JSON on stdout.
//!
//! Invariants: the C side's figures come only from the program's output (its counts
//! must add up, or the workload fails); a missing compiler or library fails this
//! workload with a message saying what to install or build, and the others still run.
//! Both sides are closed loops (the put and get cases ignore `--rate`) and `os` (they
//! ignore `--durability`).
#![forbid(unsafe_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tidelog::log::Preallocation;
use tidelog::{Durability, PutOptions};

use super::{Ctx, Result, Timed, get, time_loop};
use crate::hist::{Latency, format_ns};
use crate::pace::Pace;
use crate::report::Row;

/// The C program, compiled at run time.
const SOURCE: &str = include_str!("../../c/ffi_bench.c");
/// The header it includes (the one the library was generated with, same checkout).
const HEADER: &str = include_str!("../../../include/tidelog.h");
/// Compiler flags of the C program.
const CFLAGS: [&str; 6] = [
    "-O2",
    "-std=c11",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-pedantic",
];
/// The system libraries `libtidelog.a` needs (`Libs.private` of `ffi/pkgconfig.sh`).
const LIBS_PRIVATE: [&str; 7] = [
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];
/// Rate of the callback-subscriber case when `--rate` is not given (the `e2e` default).
const E2E_RATE_DEFAULT: f64 = 10_000.0;
/// Rounds of each side (alternating which goes first).
const ROUNDS: usize = 2;
/// Time the C program may take beyond its four measured cases before it is killed.
const CHILD_SLACK: Duration = Duration::from_secs(120);

/// What one side measured in one round: per case, what was timed and the records it
/// moved in the measuring interval.
struct Side {
    put: (Timed, u64),
    get1: (Timed, u64),
    get100: (Timed, u64),
    /// The C side only: put -> callback subscriber.
    e2e: Option<(Timed, u64)>,
}

fn merge(into: &mut (Timed, u64), more: (Timed, u64)) {
    into.0.latency.merge(&more.0.latency);
    into.0.ops += more.0.ops;
    into.0.seconds += more.0.seconds;
    into.0.cpu_ns += more.0.cpu_ns;
    into.1 += more.1;
}

impl Side {
    /// p50 of put, get_records of 1 and of 100, ns.
    fn p50s(&self) -> [f64; 3] {
        [&self.put, &self.get1, &self.get100].map(|t| t.0.latency.quantile_ns(0.5) as f64)
    }

    fn merge(into: &mut Option<Side>, more: Side) {
        match into {
            None => *into = Some(more),
            Some(side) => {
                merge(&mut side.put, more.put);
                merge(&mut side.get1, more.get1);
                merge(&mut side.get100, more.get100);
                match (&mut side.e2e, more.e2e) {
                    (Some(e2e), Some(more)) => merge(e2e, more),
                    (e2e @ None, more) => *e2e = more,
                    (Some(_), None) => {}
                }
            }
        }
    }
}

/// Runs the rounds (Rust then C, then C then Rust, so a machine that gets busier or
/// quieter during the workload weighs on both sides alike) and reports both sides.
pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let record_bytes = ctx.args.record_bytes.unwrap_or(1024);
    // First what could be missing: the library and the compiler.
    let build = ctx.case_dir("ffi-build")?;
    let library = library()?;
    ctx.progress(&format!(
        "compile benches/c/ffi_bench.c against {}",
        library.display()
    ));
    let program = compile(build.path(), &library)?;
    let rate = ctx.args.rate_per_sec.unwrap_or(E2E_RATE_DEFAULT);

    let (mut rust, mut c) = (None, None);
    // Each round's p50s (put, get 1, get 100) per side, for the notes: a round the
    // machine's other load hit shows there.
    let mut p50s = [[[0.0; 3]; 2]; ROUNDS];
    for (round, round_p50s) in p50s.iter_mut().enumerate() {
        for c_first in [round % 2 == 1, round % 2 == 0] {
            if c_first {
                ctx.progress(&format!(
                    "round {}/{ROUNDS}, C ABI: os put, get_records 1 and 100, put -> callback \
                     subscriber at {rate:.0}/s",
                    round + 1
                ));
                let side = c_side(ctx, &program, record_bytes, rate)?;
                round_p50s[1] = side.p50s();
                Side::merge(&mut c, side);
            } else {
                ctx.progress(&format!(
                    "round {}/{ROUNDS}, Rust API: os put, get_records 1 and 100",
                    round + 1
                ));
                let side = rust_side(ctx, record_bytes)?;
                round_p50s[0] = side.p50s();
                Side::merge(&mut rust, side);
            }
        }
    }
    for (round, [rust, c]) in p50s.iter().enumerate() {
        let pair = |i: usize| format!("{} / {}", format_ns(rust[i]), format_ns(c[i]));
        ctx.report.note(format!(
            "ffi round {} of {ROUNDS}, p50 Rust API / C ABI: put {}, get_records of 1 {}, of \
             100 {}",
            round + 1,
            pair(0),
            pair(1),
            pair(2)
        ));
    }
    let (Some(rust), Some(c)) = (rust, c) else {
        return Err("the ffi workload ran no round".into());
    };
    let c_e2e = c.e2e.ok_or("ffi_bench printed no `e2e` case")?;

    let p = |t: &(Timed, u64), q: f64| t.0.latency.quantile_ns(q) as f64;
    let put_overhead = [
        p(&c.put, 0.5) - p(&rust.put, 0.5),
        p(&c.put, 0.99) - p(&rust.put, 0.99),
    ];
    let get1_overhead = p(&c.get1, 0.5) - p(&rust.get1, 0.5);
    let get100_overhead = (p(&c.get100, 0.5) - p(&rust.get100, 0.5)) / 100.0;

    let mode = format!("closed loop, {ROUNDS} rounds alternating with the other API");
    let bytes = record_bytes as u64;
    let mut row = |key: &str, case: String, mode: &str, (t, records): (Timed, u64), cpu: bool| {
        ctx.report.row(Row {
            key: key.to_string(),
            workload: "ffi",
            case,
            mode: mode.to_string(),
            seconds: t.seconds,
            ops: t.ops,
            records,
            data_bytes: records * bytes,
            cpu_ns: cpu.then_some(t.cpu_ns),
            latency: t.latency,
        })
    };
    row(
        "ffi.rust.put",
        format!("os put {record_bytes} B, Rust API, busy core"),
        &mode,
        rust.put,
        true,
    );
    row(
        "ffi.c.put",
        format!("os put {record_bytes} B, C ABI from C, busy core"),
        &mode,
        c.put,
        true,
    );
    for (per_call, rust, c) in [(1, rust.get1, c.get1), (100, rust.get100, c.get100)] {
        row(
            &format!("ffi.rust.get.{per_call}"),
            format!("get_records {per_call} x {record_bytes} B, Rust API"),
            &mode,
            rust,
            true,
        );
        row(
            &format!("ffi.c.get.{per_call}"),
            format!("get_records {per_call} x {record_bytes} B, C ABI (pointers read)"),
            &mode,
            c,
            true,
        );
    }
    row(
        "ffi.c.e2e",
        format!("os put {record_bytes} B -> C callback subscriber ({rate:.0}/s, sleeps)"),
        &format!("open loop at {rate:.0}/s paced with sleeps, from the put call"),
        c_e2e,
        false,
    );
    for (key, label, value) in [
        (
            "ffi.put_overhead_p50_ns",
            "os put p50: C ABI minus Rust API",
            put_overhead[0],
        ),
        (
            "ffi.put_overhead_p99_ns",
            "os put p99: C ABI minus Rust API",
            put_overhead[1],
        ),
        (
            "ffi.get1_overhead_p50_ns",
            "get_records of 1, p50: C ABI minus Rust API",
            get1_overhead,
        ),
        (
            "ffi.get100_overhead_p50_per_record_ns",
            "get_records of 100, p50: C ABI minus Rust API, per record",
            get100_overhead,
        ),
    ] {
        ctx.report.figure("ffi", key, label, value, "ns");
    }
    Ok(())
}

/// One round of the Rust side: an engine of its own, the put case, the prefill and
/// the two read cases.
fn rust_side(ctx: &mut Ctx<'_>, record_bytes: usize) -> Result<Side> {
    let dir = ctx.case_dir("ffi-rust")?;
    let engine = ctx.open_engine(ctx.engine_config(dir.path()))?;
    engine.create_stream("put", 1)?;
    engine.create_stream("get", 1)?;
    let data = vec![0xC3u8; record_bytes];
    let options = PutOptions {
        durability: Some(Durability::Os),
        ..Default::default()
    };
    let (warmup, duration) = (ctx.args.warmup, ctx.args.duration);
    let put = time_loop(Pace::Closed, warmup, duration, Duration::ZERO, |_| {
        engine.put_record("put", "ffi", &data, options)?;
        Ok(())
    })?;
    let put_ops = put.ops;
    let written = get::prefill(&engine, "get", record_bytes)?;
    let get1 = get::read(ctx, &engine, "get", written, 1, Pace::Closed)?;
    let get100 = get::read(ctx, &engine, "get", written, 100, Pace::Closed)?;
    engine.close()?;
    Ok(Side {
        put: (put, put_ops),
        get1,
        get100,
        e2e: None,
    })
}

/// One round of the C side: the C program on a directory of its own.
fn c_side(ctx: &mut Ctx<'_>, program: &Path, record_bytes: usize, rate: f64) -> Result<Side> {
    let dir = ctx.case_dir("ffi-c")?;
    let doc = run_program(ctx, program, dir.path(), record_bytes, rate)?;
    let expected = get::prefill_target(record_bytes) as u64;
    let prefilled = doc["prefill_records"].as_u64();
    if prefilled != Some(expected) {
        return Err(format!(
            "ffi_bench prefilled {prefilled:?} records, the Rust side {expected}: the sides \
             differ"
        )
        .into());
    }
    let mut cases = parse_cases(&doc)?;
    let mut take = |key: &str| {
        cases
            .iter()
            .position(|c| c.0 == key)
            .map(|i| cases.swap_remove(i).1)
            .ok_or_else(|| format!("ffi_bench printed no `{key}` case"))
    };
    Ok(Side {
        put: take("put")?,
        get1: take("get.1")?,
        get100: take("get.100")?,
        e2e: Some(take("e2e")?),
    })
}

/// `libtidelog.a` beside this binary, or what to build.
fn library() -> Result<PathBuf> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find this binary's path (to find libtidelog.a): {e}"))?;
    let dir = exe
        .parent()
        .ok_or("this binary's path has no directory (to find libtidelog.a)")?;
    let library = dir.join("libtidelog.a");
    if library.is_file() {
        return Ok(library);
    }
    let release = if dir.ends_with("release") {
        " --release"
    } else {
        ""
    };
    Err(format!(
        "the C ABI's library is missing: no libtidelog.a in {} (beside this binary). Build \
         it with `cargo build{release} --locked -p tidelog-ffi` and the same \
         CARGO_TARGET_DIR (`make bench` does)",
        dir.display()
    )
    .into())
}

/// Writes the C program and its header into `dir` and compiles it; returns its path.
fn compile(dir: &Path, library: &Path) -> Result<PathBuf> {
    let source = dir.join("ffi_bench.c");
    std::fs::write(&source, SOURCE)?;
    std::fs::write(dir.join("tidelog.h"), HEADER)?;
    let program = dir.join("ffi_bench");
    let compiler = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let output = Command::new(&compiler)
        .args(CFLAGS)
        .arg("-I")
        .arg(dir)
        .arg(&source)
        .arg("-o")
        .arg(&program)
        .arg(library)
        .args(LIBS_PRIVATE)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "no C compiler: `{}` was not found (install gcc, e.g. `apt-get install \
                     gcc`, or set CC)",
                    compiler.to_string_lossy()
                )
            } else {
                format!(
                    "cannot run the C compiler `{}`: {e}",
                    compiler.to_string_lossy()
                )
            }
        })?;
    if !output.status.success() {
        return Err(format!(
            "compiling benches/c/ffi_bench.c with `{}` failed ({}):\n{}",
            compiler.to_string_lossy(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        )
        .into());
    }
    Ok(program)
}

/// Runs the C program on `dir`; returns its JSON document. Kills it if it runs far
/// longer than its cases should.
fn run_program(
    ctx: &Ctx<'_>,
    program: &Path,
    dir: &Path,
    record_bytes: usize,
    rate: f64,
) -> Result<Value> {
    let preallocation = match ctx.args.preallocation[0] {
        Preallocation::Zeroed => "zeroed",
        Preallocation::Allocated | Preallocation::AllocatedCached => "allocated",
    };
    let ms = |d: Duration| d.as_millis().max(1).to_string();
    let mut child = ctx.spawn_child(
        Command::new(program)
            .arg(dir)
            .arg(ms(ctx.args.warmup))
            .arg(ms(ctx.args.duration))
            .arg(record_bytes.to_string())
            .arg(ctx.cores().to_string())
            .arg(if ctx.args.pin { "1" } else { "0" })
            .arg(format!("{:.0}", rate.max(1.0)))
            .arg(preallocation)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )?;
    let mut stdout = child.stdout.take().ok_or("no stdout from ffi_bench")?;
    let mut stderr = child.stderr.take().ok_or("no stderr from ffi_bench")?;
    let out_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    let limit = (ctx.args.warmup + ctx.args.duration) * 4 + CHILD_SLACK;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&stderr);
    let Some(status) = status else {
        return Err(format!(
            "ffi_bench ran over {} s and was killed (engine stalled?); its stderr: {}",
            limit.as_secs(),
            stderr.trim_end()
        )
        .into());
    };
    if !status.success() {
        return Err(format!("ffi_bench failed ({status}): {}", stderr.trim_end()).into());
    }
    serde_json::from_slice(&stdout)
        .map_err(|e| format!("ffi_bench's output is not JSON ({e}): {stderr}").into())
}

/// The C program's cases: key, what was timed, records moved in the interval.
fn parse_cases(doc: &Value) -> Result<Vec<(String, (Timed, u64))>> {
    let cases = doc["cases"]
        .as_array()
        .ok_or("ffi_bench's output has no `cases` array")?;
    let mut out = Vec::with_capacity(cases.len());
    for case in cases {
        let key = case["key"]
            .as_str()
            .ok_or("an ffi_bench case has no key")?
            .to_string();
        let number = |field: &str| {
            case[field]
                .as_u64()
                .ok_or_else(|| format!("ffi_bench case `{key}` has no number `{field}`"))
        };
        let (ops, records, cpu_ns) = (number("ops")?, number("records")?, number("cpu_ns")?);
        let seconds = case["seconds"]
            .as_f64()
            .filter(|s| *s > 0.0)
            .ok_or_else(|| format!("ffi_bench case `{key}` has no positive `seconds`"))?;
        let mut latency = Latency::new();
        let mut counted = 0u64;
        for bucket in case["buckets"]
            .as_array()
            .ok_or_else(|| format!("ffi_bench case `{key}` has no buckets"))?
        {
            let pair = bucket.as_array().map(Vec::as_slice);
            let Some([value, count]) = pair else {
                return Err(format!("ffi_bench case `{key}`: a bucket is not [ns, count]").into());
            };
            let (Some(value), Some(count)) = (value.as_u64(), count.as_u64()) else {
                return Err(format!("ffi_bench case `{key}`: a bucket is not [ns, count]").into());
            };
            latency.record_ns_n(value, count);
            counted += count;
        }
        if ops == 0 || counted != ops {
            return Err(format!(
                "ffi_bench case `{key}`: {ops} requests but {counted} latencies recorded"
            )
            .into());
        }
        out.push((
            key,
            (
                Timed {
                    latency,
                    ops,
                    seconds,
                    cpu_ns,
                },
                records,
            ),
        ));
    }
    Ok(out)
}
