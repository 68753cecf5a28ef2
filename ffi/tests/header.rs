//! The committed header `include/tidelog.h` must be exactly what the pinned cbindgen
//! generates from `ffi/src` with `ffi/cbindgen.toml`: this test regenerates it in
//! memory and fails on any difference, printing the diff and how to regenerate.
//!
//! Regenerate: `TIDELOG_BLESS_HEADER=1 cargo test -p tidelog-ffi --test header`.

use std::path::{Path, PathBuf};

fn generate() -> Vec<u8> {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("read ffi/cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    out
}

fn committed_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../include/tidelog.h")
}

/// A line diff (longest common subsequence), as `-`/`+` lines with line numbers;
/// at most `max_lines` lines.
fn diff(old: &str, new: &str, max_lines: usize) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("-{:>5} | {}", i + 1, a[i]));
            i += 1;
        } else {
            out.push(format!("+{:>5} | {}", j + 1, b[j]));
            j += 1;
        }
    }
    let total = out.len();
    out.truncate(max_lines);
    if total > max_lines {
        out.push(format!("... ({} more lines)", total - max_lines));
    }
    out.join("\n")
}

#[test]
fn committed_header_matches_the_generated_one() {
    let generated = generate();
    let path = committed_path();
    if std::env::var_os("TIDELOG_BLESS_HEADER").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write include/tidelog.h");
        eprintln!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    if committed != generated {
        let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tidelog.h.generated");
        std::fs::write(&scratch, &generated).expect("write the generated header");
        panic!(
            "include/tidelog.h is not what cbindgen generates from ffi/src.\n\
             Diff (- committed, + generated):\n{}\n\n\
             Full generated header: {}\n\
             Regenerate and commit it with:\n    \
             TIDELOG_BLESS_HEADER=1 cargo test -p tidelog-ffi --test header\n",
            diff(
                &String::from_utf8_lossy(&committed),
                &String::from_utf8_lossy(&generated),
                200
            ),
            scratch.display()
        );
    }
}

#[test]
fn the_diff_shows_changed_lines() {
    let d = diff("a\nb\nc\n", "a\nx\nc\nd\n", 10);
    assert_eq!(d, "-    2 | b\n+    2 | x\n+    4 | d");
}
