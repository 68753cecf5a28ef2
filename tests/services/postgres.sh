#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, on 127.0.0.1 and a Unix socket, in a
# temporary directory, run as an unprivileged user (CI runs as root, and PostgreSQL
# refuses to run as root). Installs Debian's `postgresql` package when it is missing
# and this runs as root.
#   tests/services/postgres.sh start DIR [PORT]   # prints the connection URL
#   tests/services/postgres.sh stop DIR
# The server's files (data, socket, log) live in DIR; `stop` stops it and removes DIR.
set -euo pipefail
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start DIR [PORT] | stop DIR" >&2; exit 2; }

bin_dir() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    done
    return 1
}

as_owner() {
    # Runs a command as the owner of $dir (nobody when we are root).
    if [ "$(id -u)" = 0 ]; then
        runuser -u nobody -- "$@"
    else
        "$@"
    fi
}

case "$cmd" in
start)
    port=${3:-}
    if ! bin=$(bin_dir); then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "installing postgresql" >&2
            { apt-get install -y --no-install-recommends postgresql >/dev/null 2>&1 ||
              { apt-get update >/dev/null 2>&1 &&
                apt-get install -y --no-install-recommends postgresql >/dev/null 2>&1; }; } || true
        fi
        bin=$(bin_dir) || { echo "PostgreSQL is required: sudo apt-get install postgresql" >&2; exit 1; }
    fi
    if [ -z "$port" ]; then
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    fi
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown nobody "$dir"
    chmod 700 "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c listen_addresses=127.0.0.1" start >/dev/null ||
        { cat "$dir/server.log" >&2; exit 1; }
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
stop)
    if bin=$(bin_dir) && [ -d "$dir/data" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start DIR [PORT] | stop DIR" >&2; exit 2 ;;
esac
