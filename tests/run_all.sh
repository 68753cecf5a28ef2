#!/usr/bin/env bash
# Runs every check and every test tidelog has: formatting, lints, the unsafe-code rule,
# the Rust test suites (the C header's up-to-date check among them), and the C ABI's
# C and C++ tests, natively and under Valgrind (tests/c/run.sh). Later parts add their
# steps here.
# Usage: tests/run_all.sh   (from anywhere; needs a Rust toolchain, and gcc, g++,
# valgrind and pkg-config, which tests/c/run.sh installs with apt-get when run as root)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "rustfmt"
cargo fmt --all -- --check

step "clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "unsafe code stays in its places"
# Every Rust source file in core/src forbids unsafe code, except the mapping module
# (which allows it) and the two module roots that only deny it so the mapping may allow.
bad=0
while IFS= read -r file; do
  case "$file" in
    core/src/io/mapping.rs) grep -q '#!\[allow(unsafe_code)\]' "$file" || { echo "$file: expected #![allow(unsafe_code)]"; bad=1; } ;;
    core/src/lib.rs|core/src/io/mod.rs) grep -q '#!\[deny(unsafe_code)\]' "$file" || { echo "$file: expected #![deny(unsafe_code)]"; bad=1; } ;;
    *) grep -q '#!\[forbid(unsafe_code)\]' "$file" || { echo "$file: missing #![forbid(unsafe_code)]"; bad=1; } ;;
  esac
done < <(find core/src -name '*.rs' | sort)
# The C ABI (ffi/src) needs unsafe where raw pointers arrive: the export modules and
# args.rs. Its other modules forbid it; clippy's undocumented_unsafe_blocks (denied in
# the workspace) makes every unsafe block carry a SAFETY comment.
for file in ffi/src/abi.rs ffi/src/boundary.rs ffi/src/handles.rs ffi/src/status.rs; do
  grep -q '#!\[forbid(unsafe_code)\]' "$file" || { echo "$file: missing #![forbid(unsafe_code)]"; bad=1; }
done
[ "$bad" = 0 ]

step "Rust tests"
cargo test --workspace --locked

step "C ABI: C and C++ tests, natively and under Valgrind"
tests/c/run.sh

printf '\nall checks and tests passed\n'
