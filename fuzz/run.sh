#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for a while; fails if any input crashes.
# Usage: fuzz/run.sh [seconds per target, default 10] [target ...]
# Seeds: fuzz/regressions/<target> (kept inputs that once crashed) and, if present,
# fuzz/corpus/<target> (a local corpus, not committed). Neither is written to: new
# inputs go to a temporary directory; a crashing input is copied to
# fuzz/artifacts/<target>/ and named in the output.
# Needs cargo-fuzz (installed with `cargo install cargo-fuzz --locked` if missing) and
# a C++ compiler for libFuzzer. Runs on a stable toolchain: no sanitizer (-s none);
# the targets check their own invariants and any panic is a crash.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-10}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(record_decode iterator_token catalog_decode segment_recovery queue_files)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (once)"
  cargo install cargo-fuzz --locked --quiet
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/../target/fuzz}"
for t in "${targets[@]}"; do
  cargo fuzz build -s none --release "$t"
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
status=0
for t in "${targets[@]}"; do
  mkdir -p "$work/$t/new" "$work/$t/artifacts" "regressions/$t"
  seeds=("regressions/$t")
  [ -d "corpus/$t" ] && seeds+=("corpus/$t")
  log="$work/$t/log"
  if cargo fuzz run -s none --release "$t" "$work/$t/new" "${seeds[@]}" -- \
      -max_total_time="$seconds" -artifact_prefix="$work/$t/artifacts/" \
      -print_final_stats=1 >"$log" 2>&1; then
    runs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' || echo '?')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*' || echo '?')
    printf '%-18s %10s runs in %ss, coverage %s, no crash\n' "$t" "$runs" "$seconds" "$cov"
  else
    status=1
    mkdir -p "artifacts/$t"
    cp "$work/$t/artifacts/"* "artifacts/$t/" 2>/dev/null || true
    echo "$t: FAILED; input(s) kept in fuzz/artifacts/$t/ (replay: cargo fuzz run -s none --release $t <file>)"
    grep -E 'panicked|ERROR|SUMMARY' "$log" | head -n 20 || tail -n 40 "$log"
  fi
done
exit "$status"
