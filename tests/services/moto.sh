#!/usr/bin/env bash
# Starts or stops moto's S3-compatible server on 127.0.0.1 (for trying the S3
# destination by hand; the tests start their own servers on free ports).
#   tests/services/moto.sh start [port]   # prints the endpoint; pid in .moto.pid
#   tests/services/moto.sh stop
set -euo pipefail
cd "$(dirname "$0")/../.."
pidfile=.moto.pid
case "${1:-}" in
  start)
    port="${2:-5055}"
    server="${TIDELOG_MOTO_SERVER:-.venv/bin/moto_server}"
    [ -x "$server" ] || { echo "moto_server not found: run tests/services/setup.sh first" >&2; exit 1; }
    "$server" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
    echo $! > "$pidfile"
    for _ in $(seq 1 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "http://127.0.0.1:$port"; exit 0
      fi
      sleep 0.1
    done
    echo "moto did not start on port $port" >&2; kill "$(cat "$pidfile")" 2>/dev/null || true; exit 1 ;;
  stop)
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile" ;;
  *) echo "usage: $0 start [port] | stop" >&2; exit 2 ;;
esac
