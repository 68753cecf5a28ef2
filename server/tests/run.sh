#!/usr/bin/env bash
# The server's tests with real clients, against the real `tidelog` binary: boto3, the
# AWS CLI, CBOR and HTTP/2 (httpx) from PyPI into .venv, and the AWS SDK for JavaScript
# v3 from npm into server/tests/js/node_modules (gitignored). The Rust tests of the
# crate (hostile HTTP, h2/h2c, SigV4, crash, CLI) run with `cargo test --workspace`.
# Usage: server/tests/run.sh   (TIDELOG_BIN: a built binary; else the newest of
# target/{release,debug}/tidelog that is newer than the sources, as `cargo test
# --workspace` leaves it; else it is built here in the profile CARGO_PROFILE names,
# default dev)
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -z "${TIDELOG_BIN:-}" ]; then
  target="${CARGO_TARGET_DIR:-target}"
  for candidate in $(ls -t "$target/release/tidelog" "$target/debug/tidelog" 2>/dev/null); do
    if [ -z "$(find server/src core/src firehose/src Cargo.lock -newer "$candidate" -print -quit)" ]; then
      TIDELOG_BIN="$(realpath "$candidate")"; break
    fi
  done
fi
if [ -z "${TIDELOG_BIN:-}" ]; then
  profile="${CARGO_PROFILE:-dev}"
  # The whole workspace (one feature resolution with the test command's builds; the
  # server alone would compile half the dependency tree a second time).
  cargo build --locked --profile "$profile" --workspace --lib --bins --tests --examples
  dir="$profile"; [ "$profile" = dev ] && dir=debug
  TIDELOG_BIN="$(realpath "${CARGO_TARGET_DIR:-target}/$dir/tidelog")"
fi
echo "using $TIDELOG_BIN"
export TIDELOG_BIN
command -v openssl >/dev/null || { echo "openssl is needed (the TLS tests make a certificate)"; exit 1; }

python=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python="$candidate"; break
  fi
done
[ -n "$python" ] || { echo "Python >= 3.11 is needed for the server's Python tests"; exit 1; }
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r server/tests/python/requirements.txt
PATH="$PWD/.venv/bin:$PATH" .venv/bin/python -m pytest server/tests/python -q -p no:cacheprovider --timeout 300

command -v node >/dev/null && command -v npm >/dev/null ||
  { echo "Node.js 18+ and npm are needed for the JavaScript SDK tests"; exit 1; }
(cd server/tests/js &&
  npm install --no-audit --no-fund --no-package-lock --silent &&
  node --no-warnings --test kinesis.test.mjs)
