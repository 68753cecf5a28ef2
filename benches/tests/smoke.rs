//! Smoke tests of the benchmark binary: each workload runs for a moment and leaves a
//! well-formed JSON document, `.hgrm` files and SVG plots. No timing is asserted: these
//! check that the suite works, not how fast this machine is.
#![forbid(unsafe_code)]

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Runs are serialized: each pins an engine core, and two at once on a small CI
/// machine would only slow each other down.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const QUICK: &[&str] = &[
    "--duration",
    "20ms",
    "--warmup",
    "5ms",
    "--producers",
    "3",
    "--recovery-gib",
    "0.02",
    "--idle-shards",
    "40",
    "--log-mb",
    "4",
];

/// Longest one run may take before the test gives up on it (a hang must fail the test,
/// not stall the whole test run).
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

fn bench(args: &[&str], out: &Path) -> Output {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut child = Command::new(env!("CARGO_BIN_EXE_tidelog-bench"))
        .args(args)
        // The defaults workload's verdict is a note here: the machine running the
        // tests is busy, so its ratios say nothing (`make bench` enforces them).
        .env("TIDELOG_BENCH_DEFAULTS_ADVISORY", "1")
        .arg("--out")
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tidelog-bench");
    // Drain the pipes on threads so a chatty child never blocks on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
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
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for tidelog-bench") {
            break status;
        }
        if started.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            let stderr =
                String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
            panic!("tidelog-bench {args:?} ran over {RUN_TIMEOUT:?}; killed. stderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// Checks an `.hgrm` file: header, rows of numbers ending at percentile 1 with the
/// histogram's total count, and the three footer lines.
fn check_hgrm(path: &Path, count: u64) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"],
        "{path:?}"
    );
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.split_whitespace()
                .map(|f| f.parse::<f64>().unwrap_or_else(|_| panic!("{path:?}: {l}")))
                .collect()
        })
        .collect();
    assert!(!rows.is_empty(), "{path:?} has rows");
    assert!(
        rows.windows(2)
            .all(|w| w[0][0] <= w[1][0] && w[0][1] <= w[1][1]),
        "{path:?}: values and percentiles never decrease"
    );
    let last = rows.last().unwrap();
    assert_eq!(last[1], 1.0, "{path:?} ends at the 100th percentile");
    assert_eq!(last[2] as u64, count, "{path:?} total count");
    for footer in ["#[Mean", "#[Max", "#[Buckets"] {
        assert!(text.contains(footer), "{path:?} has {footer}");
    }
}

fn check_svg(path: &Path, series: usize) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    assert!(
        text.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{path:?}"
    );
    assert!(text.trim_end().ends_with("</svg>"), "{path:?}");
    assert_eq!(
        text.matches("<polyline").count(),
        series,
        "{path:?} plots each series"
    );
    assert!(!text.contains("NaN") && !text.contains("inf"), "{path:?}");
}

/// Runs one workload and checks every output; returns the JSON document.
fn run_workload(workload: &str, extra: &[&str]) -> Value {
    let out = tempfile::tempdir().unwrap();
    let mut args = vec!["--workload", workload, "--json"];
    args.extend_from_slice(QUICK);
    args.extend_from_slice(extra);
    let output = bench(&args, out.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{workload}: {stderr}");
    let doc: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{workload}: stdout is not JSON ({e}): {stderr}"));
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("results.json")).unwrap())
            .expect("results.json is JSON");
    assert_eq!(
        doc["latency"], file["latency"],
        "stdout and results.json agree"
    );
    let env = &doc["environment"];
    for field in [
        "kernel",
        "cpu_model",
        "filesystem",
        "build_profile",
        "git_revision",
    ] {
        assert!(
            env[field].as_str().is_some_and(|s| !s.is_empty()),
            "environment.{field}: {env}"
        );
    }
    assert!(env["cpus"].as_u64().is_some_and(|n| n >= 1));
    assert!(doc["failures"].as_array().unwrap().is_empty());
    assert!(!doc["targets"].as_array().unwrap().is_empty());
    let summary = std::fs::read_to_string(out.path().join("summary.txt")).unwrap();
    assert!(summary.contains("TARGETS"));
    let rows = doc["latency"].as_array().unwrap();
    for row in rows {
        let count = row["latency_us"]["count"].as_u64().unwrap();
        assert!(count > 0, "{workload}: {} recorded nothing", row["key"]);
        let l = &row["latency_us"];
        let (p50, p99, max) = (
            l["p50"].as_f64().unwrap(),
            l["p99"].as_f64().unwrap(),
            l["max"].as_f64().unwrap(),
        );
        assert!(0.0 < p50 && p50 <= p99 && p99 <= max * 1.001, "{row}");
        check_hgrm(&out.path().join(row["hgrm_file"].as_str().unwrap()), count);
    }
    let mut workloads: Vec<&str> = rows
        .iter()
        .map(|r| r["workload"].as_str().unwrap())
        .collect();
    workloads.dedup();
    for w in &workloads {
        let series = rows.iter().filter(|r| r["workload"] == *w).count();
        check_svg(&out.path().join(format!("{w}.svg")), series);
    }
    if !rows.is_empty() {
        check_svg(&out.path().join("latency-percentiles.svg"), rows.len());
    }
    doc
}

fn keys(doc: &Value, section: &str) -> Vec<String> {
    doc[section]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect()
}

fn figure(doc: &Value, key: &str) -> f64 {
    doc["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == key)
        .and_then(|f| f["value"].as_f64())
        .unwrap_or_else(|| panic!("figure {key} missing: {}", doc["figures"]))
}

#[test]
fn put_and_baseline() {
    let doc = run_workload("put", &[]);
    let rows = keys(&doc, "latency");
    for key in [
        "baseline.raw_device",
        "baseline.by_hand_sync",
        "baseline.by_hand_write",
        "put.os.busy",
        "put.os.idle",
        "put.os.shared",
        "put.os.open",
        "put.sync.io_uring",
        "put.sync.blocking",
        "put.sync64.io_uring",
        "put.sync64.blocking",
    ] {
        assert!(rows.iter().any(|k| k == key), "{key} in {rows:?}");
    }
    // The baselines of the same run give the ratios.
    assert!(
        doc["baseline_ratios"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["label"].as_str().unwrap().contains("raw device"))
    );
    let os_p50 = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "os_put_p50")
        .unwrap();
    assert_ne!(os_p50["status"], "not measured");
}

#[test]
fn get_e2e_and_open_loop() {
    let doc = run_workload("get,e2e", &["--rate", "2000"]);
    let rows = keys(&doc, "latency");
    // The wake-up floor needs a CPU for the core and another for the bench threads.
    let mut expected = vec!["get.1", "get.100", "e2e.os"];
    if tidelog::runtime::allowed_cpus().len() > 1 {
        expected.push("e2e.floor.wake");
    }
    assert_eq!(rows, expected);
    let get100 = &doc["latency"][1];
    assert_eq!(
        get100["records"].as_u64().unwrap(),
        get100["requests"].as_u64().unwrap() * 100
    );
    assert!(
        doc["latency"][0]["mode"]
            .as_str()
            .unwrap()
            .contains("open loop at 2000")
    );
}

/// `cargo build` of the whole workspace as the test command's Rust step runs it (a no-op
/// after it), in the environment that step had: without the variables cargo sets for
/// this test process (`CARGO_PKG_NAME`, `CARGO_MANIFEST_DIR`...), which build scripts
/// such as ring's declare they depend on, so inheriting them would rebuild ring and
/// everything above it, DataFusion included.
fn workspace_build() -> Command {
    let mut cargo = Command::new(env!("CARGO"));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || key.starts_with("CARGO_BIN_")
            || key.starts_with("CARGO_CFG_")
            || [
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
                "OUT_DIR",
            ]
            .contains(&key.as_ref())
        {
            cargo.env_remove(key.as_ref());
        }
    }
    cargo.args([
        "build",
        "--locked",
        "--workspace",
        "--lib",
        "--bins",
        "--tests",
        "--examples",
    ]);
    cargo
}

/// Builds libtidelog.a (the ffi workload links its C program against it) in the
/// target directory and profile of the bench binary under test.
fn build_c_library() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let exe = Path::new(env!("CARGO_BIN_EXE_tidelog-bench"));
    // The whole workspace, as `cargo test --workspace` resolves it (a no-op after the
    // test command's build): tidelog-ffi alone would resolve other dependency features
    // and compile half the dependency tree, DataFusion included, a second time.
    let mut cargo = workspace_build();
    if exe.parent().is_some_and(|d| d.ends_with("release")) {
        cargo.arg("--release");
    }
    let status = cargo
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .status()
        .expect("run cargo build -p tidelog-ffi");
    assert!(status.success(), "cargo build -p tidelog-ffi: {status}");
    assert!(exe.with_file_name("libtidelog.a").is_file());
}

#[test]
fn ffi_c_abi_beside_the_rust_api() {
    build_c_library();
    let doc = run_workload("ffi", &[]);
    assert_eq!(
        keys(&doc, "latency"),
        [
            "ffi.rust.put",
            "ffi.c.put",
            "ffi.rust.get.1",
            "ffi.c.get.1",
            "ffi.rust.get.100",
            "ffi.c.get.100",
            "ffi.c.e2e",
        ]
    );
    let rows = doc["latency"].as_array().unwrap();
    for row in rows
        .iter()
        .filter(|r| r["key"].as_str().unwrap().contains("get.100"))
    {
        assert_eq!(
            row["records"].as_u64().unwrap(),
            row["requests"].as_u64().unwrap() * 100,
            "{row}"
        );
    }
    for key in [
        "ffi.put_overhead_p50_ns",
        "ffi.put_overhead_p99_ns",
        "ffi.get1_overhead_p50_ns",
        "ffi.get100_overhead_p50_per_record_ns",
    ] {
        assert!(figure(&doc, key).is_finite(), "{key}");
    }
    let targets = doc["targets"].as_array().unwrap();
    for id in [
        "ffi_put_overhead_p50",
        "ffi_get1_overhead_p50",
        "ffi_get100_overhead_per_record",
    ] {
        let t = targets.iter().find(|t| t["id"] == id).unwrap();
        assert_ne!(t["status"], "not measured", "{t}");
    }
    assert!(
        doc["baseline_ratios"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["label"].as_str().unwrap().starts_with("C ABI os put p50"))
    );
}

#[test]
fn ffi_without_a_compiler_fails_alone_and_clearly() {
    build_c_library();
    let out = tempfile::tempdir().unwrap();
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    // The other workload still runs and is reported; the exit status says one failed.
    let output = Command::new(env!("CARGO_BIN_EXE_tidelog-bench"))
        .args(["--workload", "get,ffi", "--json"])
        .args(QUICK)
        .arg("--out")
        .arg(out.path())
        .env("CC", "/nonexistent/cc")
        .stdin(Stdio::null())
        .output()
        .expect("run tidelog-bench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let doc: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(keys(&doc, "latency"), ["get.1", "get.100"]);
    let failures = doc["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["workload"], "ffi");
    let error = failures[0]["error"].as_str().unwrap();
    assert!(
        error.contains("no C compiler") && error.contains("/nonexistent/cc"),
        "{error}"
    );
}

#[test]
fn throughput() {
    let doc = run_workload(
        "throughput",
        &[
            "--record-size",
            "1k",
            "--shards",
            "2",
            "--producers",
            "2",
            "--duration",
            "200ms",
        ],
    );
    assert_eq!(
        keys(&doc, "latency"),
        ["throughput.os.1024.s2.p2", "throughput.sync.1024.s2.p2"]
    );
    for row in doc["latency"].as_array().unwrap() {
        assert!(row["records_per_sec"].as_f64().unwrap() > 0.0);
        assert!(row["mb_per_sec"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn limits() {
    let doc = run_workload("limits", &["--shards", "20"]);
    assert_eq!(
        keys(&doc, "latency"),
        ["limits.under", "limits.records", "limits.bytes"]
    );
    // Under the limit nothing is refused, whatever the timing.
    assert_eq!(figure(&doc, "limits.under.accuracy"), 1.0);
    assert!(figure(&doc, "limits.records.accepted_per_shard") > 0.0);
}

#[test]
fn recovery_idle_and_log() {
    let doc = run_workload("recovery,idle,log", &[]);
    assert!(figure(&doc, "recovery.log_bytes") >= 0.02 * (1u64 << 30) as f64);
    assert!(figure(&doc, "recovery.open_after_kill_ns") > 0.0);
    assert_eq!(figure(&doc, "idle.shards"), 40.0);
    assert!(figure(&doc, "idle.disk_bytes_per_shard") > 0.0);
    assert!(figure(&doc, "idle.open_ns") > 0.0);
    assert!(figure(&doc, "log.scan_gbps.crc_on") > 0.0);
    assert!(figure(&doc, "log.reopen_ns") > 0.0);
    for bound in [
        "fresh_page_cache",
        "cached_page_cache",
        "fresh_memory",
        "touched_memory",
    ] {
        assert!(
            figure(&doc, &format!("log.bound.{bound}_gbps")) > 0.0,
            "{bound}"
        );
    }
    assert_eq!(
        keys(&doc, "latency"),
        ["log.sync.mapping", "log.sync.pwritev"]
    );
}

#[test]
fn fanout_encryption_and_on_demand() {
    let doc = run_workload("fanout,encryption,ondemand", &["--rate", "2000"]);
    assert_eq!(
        keys(&doc, "latency"),
        [
            "fanout.subscribe",
            "fanout.subscribe_to_shard",
            "encryption.put.plain",
            "encryption.put.kms",
            "encryption.get.plain",
            "encryption.get.kms",
            "ondemand.resize",
        ]
    );
    // Both readers saw every record put in the window (the workload checks it too).
    let rows = doc["latency"].as_array().unwrap();
    assert_eq!(rows[0]["records"], rows[1]["records"]);
    // The ramp ends at twice the peak: 1,600 records/s at 100 per shard, doubled.
    assert_eq!(figure(&doc, "ondemand.shards"), 32.0);
    assert!(figure(&doc, "ondemand.absorb_s") <= 60.0);
    assert!(figure(&doc, "ondemand.refused_pct") < 50.0);
}

#[test]
fn defaults_beside_tuned() {
    let doc = run_workload("defaults", &[]);
    let keys = keys(&doc, "latency");
    let cpus = tidelog::runtime::allowed_cpus().len();
    let mut counts = vec![1usize, 2, 2 * cpus];
    counts.dedup();
    for callers in counts {
        let mut setups = vec!["defaults", "tuned"];
        if cpus > 1 {
            setups.push("defaults_1cpu");
            setups.push("handoff_1cpu");
        }
        for setup in setups {
            let key = format!("defaults.{setup}.c{callers}");
            assert!(keys.contains(&key), "{key} missing: {keys:?}");
            let (min, max) = (
                figure(&doc, &format!("{key}.p50_min_ns")),
                figure(&doc, &format!("{key}.p50_max_ns")),
            );
            assert!(0.0 < min && min <= max, "{key}: {min} {max}");
            if setup != "tuned" && setup != "handoff_1cpu" {
                assert!(figure(&doc, &format!("{key}.p99_ratio")) > 0.0);
            }
        }
    }
}

#[test]
fn firehose() {
    let doc = run_workload("firehose", &[]);
    let keys = keys(&doc, "latency");
    for key in [
        "firehose.ingest.p1",
        "firehose.ingest.p3",
        "firehose.baseline.engine",
        "firehose.visible",
        "firehose.delivery.dir.uncompressed",
        "firehose.delivery.dir.gzip",
        "firehose.delivery.http",
        "firehose.parquet",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} missing: {keys:?}");
    }
    if std::env::var_os("TIDELOG_REQUIRE_SERVICES").is_some() {
        for key in [
            "firehose.delivery.postgres",
            "firehose.delivery.s3.uncompressed",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} missing: {keys:?}");
        }
        assert!(figure(&doc, "firehose.baseline.postgres_copy_rows_per_sec") > 0.0);
    }
    assert!(figure(&doc, "firehose.transform.ns_per_record") >= 0.0);
}

#[test]
fn bad_flags_are_clear_errors_not_panics() {
    let out = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (vec!["--workload", "nope"], "unknown workload"),
        (vec!["--duration", "soon"], "not a time"),
        (vec!["--shards", "0"], "out of range"),
        (vec!["--frobnicate"], "unknown flag"),
    ] {
        let output = bench(&args, out.path());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // A valid flag the machine cannot honour: a clear error before anything runs.
    let output = bench(&["--cores", "1024", "--workload", "get"], out.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("pinned cores"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let help = bench(&["--help"], out.path());
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--workload"));
}

/// Builds the `tidelog` binary (the server workload runs it) beside the bench binary,
/// unless `cargo test --workspace` built it already (with the whole workspace, so the
/// dependencies' features are the test build's).
fn build_server() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let exe = Path::new(env!("CARGO_BIN_EXE_tidelog-bench"));
    if exe.with_file_name("tidelog").is_file() {
        return;
    }
    let mut cargo = workspace_build();
    if exe.parent().is_some_and(|d| d.ends_with("release")) {
        cargo.arg("--release");
    }
    let status = cargo
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .status()
        .expect("run cargo build -p tidelog-server");
    assert!(status.success(), "cargo build -p tidelog-server: {status}");
}

#[test]
fn server_over_http() {
    build_server();
    let doc = run_workload("server", &[]);
    let keys = keys(&doc, "latency");
    for key in [
        "server.tidelog.rust.put_record",
        "server.tidelog.rust.get_records",
        "server.tidelog.rust.put_records",
        "server.tidelog.e2e.subscribe",
        "server.device.fdatasync",
        "server.sink.rust.put_records",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
    }
}

#[test]
fn peers() {
    let doc = run_workload("peers", &[]);
    let mut expected = Vec::new();
    for store in ["tidelog", "sqlite", "redb"] {
        for case in ["durable", "os", "batch"] {
            expected.push(format!("peers.{store}.{case}"));
        }
        // The scan read back exactly what was written (the workload fails otherwise).
        assert!(figure(&doc, &format!("peers.{store}.scan_mb_per_sec")) > 0.0);
        assert!(figure(&doc, &format!("peers.{store}.reopen_ns")) > 0.0);
    }
    assert_eq!(keys(&doc, "latency"), expected);
    let comparisons = doc["baseline_ratios"].as_array().unwrap();
    for peer in ["SQLite", "redb"] {
        assert!(
            comparisons.iter().any(|c| c["label"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/ {peer} MB/s"))),
            "no scan comparison with {peer}: {comparisons:?}"
        );
    }
}

#[test]
fn python() {
    let doc = run_workload("python", &[]);
    let rows = keys(&doc, "latency");
    if rows.is_empty() {
        // The test command's .venv holds a debug extension: measured nothing, and said why.
        let notes = doc["notes"].as_array().unwrap();
        assert!(
            notes
                .iter()
                .any(|n| n.as_str().unwrap().starts_with("python: ")
                    && n.as_str().unwrap().contains("not measured")),
            "{notes:?}"
        );
    } else {
        assert_eq!(
            rows,
            [
                "python.put",
                "python.put_records",
                "python.get_records",
                "python.boto3_get_records"
            ]
        );
    }
}
