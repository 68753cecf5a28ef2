#!/usr/bin/env bash
# Installs what the tests' real services need into .venv (moto's S3 server for the
# Firehose tests) and prints the environment the tests read, one `export` per line:
#   eval "$(tests/services/setup.sh)"
# Needs Python >= 3.11 with venv and pip. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python="$candidate"; break
  fi
done
[ -n "$python" ] || { echo "Python >= 3.11 (with venv and pip) is needed for the service tests" >&2; exit 1; }
[ -x .venv/bin/python ] || "$python" -m venv .venv >&2
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/services/requirements.txt >&2
echo "export TIDELOG_MOTO_SERVER=$PWD/.venv/bin/moto_server"
