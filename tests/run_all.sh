#!/usr/bin/env bash
# Runs every check and every test tidelog has: formatting, lints, the unsafe-code rule,
# and the Rust test suites. Later parts (C, Python) add their steps here.
# Usage: tests/run_all.sh   (from anywhere; needs a Rust toolchain)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "rustfmt"
cargo fmt --all -- --check

step "clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "unsafe code stays in its two places"
# Every Rust source file in core/src and benches/ forbids unsafe code, except the mapping
# module (which allows it) and the two module roots that only deny it so the mapping may
# allow.
bad=0
while IFS= read -r file; do
  case "$file" in
    core/src/io/mapping.rs) grep -q '#!\[allow(unsafe_code)\]' "$file" || { echo "$file: expected #![allow(unsafe_code)]"; bad=1; } ;;
    core/src/lib.rs|core/src/io/mod.rs) grep -q '#!\[deny(unsafe_code)\]' "$file" || { echo "$file: expected #![deny(unsafe_code)]"; bad=1; } ;;
    *) grep -q '#!\[forbid(unsafe_code)\]' "$file" || { echo "$file: missing #![forbid(unsafe_code)]"; bad=1; } ;;
  esac
done < <(find core/src benches -name '*.rs' | sort)
[ "$bad" = 0 ]

step "Rust tests"
cargo test --workspace --locked

printf '\nall checks and tests passed\n'
