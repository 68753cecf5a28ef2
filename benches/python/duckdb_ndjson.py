"""DuckDB's side of the sql benchmark workload (benches/src/workloads/sql.rs): runs a
query over an NDJSON file with read_ndjson, warm, best of N, and prints JSON:
{"best_s": seconds, "rows": [[...], ...]}.

Usage: duckdb_ndjson.py FILE QUERY RUNS THREADS   (QUERY contains '{path}')
"""

import json
import sys
import time

import duckdb


def main() -> None:
    path, query, runs, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    con = duckdb.connect()
    con.execute(f"SET threads TO {threads}")
    sql = query.replace("{path}", path)
    best = float("inf")
    rows: list[tuple[object, ...]] = []
    for _ in range(runs):
        start = time.perf_counter()
        rows = con.execute(sql).fetchall()
        best = min(best, time.perf_counter() - start)
    print(json.dumps({"best_s": best, "rows": [list(r) for r in rows]}))


if __name__ == "__main__":
    main()
