"""The baseline of the firehose workload's JSON -> Parquet case: pyarrow's JSON reader
and Parquet writer (SNAPPY) on the same newline-delimited records. Prints
{"rows": n, "seconds": s}."""

import json
import sys
import time

import pyarrow.json
import pyarrow.parquet


def main() -> None:
    source, target = sys.argv[1], sys.argv[2]
    start = time.perf_counter()
    table = pyarrow.json.read_json(source)
    pyarrow.parquet.write_table(table, target, compression="snappy")
    elapsed = time.perf_counter() - start
    print(json.dumps({"rows": table.num_rows, "seconds": elapsed}))


if __name__ == "__main__":
    main()
