#!/usr/bin/env bash
# Runs every check and every test tidelog has: formatting, lints, the unsafe-code rule,
# the Rust test suites (the C header's up-to-date check among them), a short fuzzing run,
# the C ABI's C and C++ tests natively and under Valgrind (tests/c/run.sh), and the Python
# package (built into .venv, then pytest, which also runs the stub check and the
# quick-start notebook). Later parts add their steps.
# Usage: tests/run_all.sh   (from anywhere; needs a Rust toolchain, Python >= 3.11 with
# pip and venv, gcc; tests/c/run.sh installs g++, valgrind and pkg-config with apt-get
# when they are missing and it runs as root; the Python tools come from PyPI into .venv)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# One build of every crate: each cargo invocation below builds the whole workspace
# with its tests (`--workspace --lib --bins --tests --examples`: what `cargo test`
# builds, plus every library, the Python extension among them; not `--all-targets`,
# which would also try to link the extension's test harness without libpython), so
# dependency features resolve the same way every time
# and nothing (DataFusion least of all: ~10 minutes on 2 CPUs) is compiled twice. The
# Python extension is that build's cdylib; PYO3_BUILD_EXTENSION_MODULE keeps it from
# linking libpython, as maturin would (set for every step, so pyo3's build script sees
# one environment).
export PYO3_BUILD_EXTENSION_MODULE=1

step "rustfmt"
cargo fmt --all -- --check

step "clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "unsafe code stays in its named places"
# Every Rust source file (core, python, benches, analytics) forbids unsafe code, except
# the mapping module, the Python buffer protocol and the Python Arrow capsules (which
# allow it) and the module roots that only deny it so those may.
bad=0
while IFS= read -r file; do
  case "$file" in
    core/src/io/mapping.rs|python/src/buffer.rs|python/src/arrow_export.rs) grep -q '#!\[allow(unsafe_code)\]' "$file" || { echo "$file: expected #![allow(unsafe_code)]"; bad=1; } ;;
    core/src/lib.rs|core/src/io/mod.rs|python/src/lib.rs) grep -q '#!\[deny(unsafe_code)\]' "$file" || { echo "$file: expected #![deny(unsafe_code)]"; bad=1; } ;;
    *) grep -q '#!\[forbid(unsafe_code)\]' "$file" || { echo "$file: missing #![forbid(unsafe_code)]"; bad=1; } ;;
  esac
done < <(find core/src python/src benches server/src analytics firehose/src firehose/tests -name '*.rs' | sort)
# The C ABI (ffi/src) needs unsafe where raw pointers arrive: the export modules and
# args.rs. Its other modules forbid it; clippy's undocumented_unsafe_blocks (denied in
# the workspace) makes every unsafe block carry a SAFETY comment.
for file in ffi/src/abi.rs ffi/src/boundary.rs ffi/src/handles.rs ffi/src/status.rs; do
  grep -q '#!\[forbid(unsafe_code)\]' "$file" || { echo "$file: missing #![forbid(unsafe_code)]"; bad=1; }
done
[ "$bad" = 0 ]

step "services for the tests: moto's S3 server from PyPI into .venv (tests/services/setup.sh)"
# The Firehose tests start their own moto servers on 127.0.0.1 (free ports) and stop
# them; TIDELOG_REQUIRE_SERVICES makes a missing server a failure, not a skip.
eval "$(tests/services/setup.sh)"
export TIDELOG_REQUIRE_SERVICES=1

step "Rust tests (the workspace built once)"
cargo build --workspace --lib --bins --tests --examples --locked
cargo test --workspace --locked

step "fuzzing: each libFuzzer target for ${TIDELOG_FUZZ_SECONDS:-10} s (fuzz/run.sh; longer: TIDELOG_FUZZ_SECONDS)"
fuzz/run.sh "${TIDELOG_FUZZ_SECONDS:-10}"

step "Python package: build into .venv, then pytest (API, client, zero copy, stub, notebook)"
python=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python="$candidate"; break
  fi
done
[ -n "$python" ] || { echo "Python >= 3.11 (with venv and pip) is needed for the Python tests"; exit 1; }
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r python/requirements-dev.txt
# The native module is the Rust step's own build of tidelog-python (a debug build:
# `tidelog.BUILD_PROFILE` says so), placed in the package the way `maturin develop`
# places it, with the package put on the venv's path.
.venv/bin/python -m pip uninstall --quiet --yes tidelog >/dev/null 2>&1 || true  # an earlier maturin develop
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
cp "$target_dir/debug/lib_tidelog.so" python/tidelog/_tidelog.abi3.so
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$PWD/python" > "$site/tidelog-dev.pth"
.venv/bin/python -c 'import tidelog, sys; sys.exit(tidelog.__file__.startswith("'"$PWD"'/python/") is False)'
.venv/bin/python -m pytest python/tests -q -p no:cacheprovider

step "tidelog serve: boto3, the AWS CLI, CBOR, HTTP/2 (httpx) and the JavaScript SDK v3 against the binary"
server/tests/run.sh

step "C ABI: C and C++ tests, natively and under Valgrind"
tests/c/run.sh

printf '\nall checks and tests passed\n'
