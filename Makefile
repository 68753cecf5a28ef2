# The two commands of the README's quick start, and the C library.
.PHONY: bench bench-sql test lib

# The main job: measure tidelog on a temporary data directory and print the figures.
# The ffi workload links a C program against the release libtidelog.a (built without
# SQL: --no-default-features leaves DataFusion out, so a cold `make bench` stays short;
# `make bench-sql` measures the SQL workloads), and the server workload runs the release
# `tidelog` binary: all three built by one cargo invocation (one feature resolution, so
# no dependency is compiled twice), then the bench binary is run as built.
bench:
	cargo build --release --locked -p tidelog-bench -p tidelog-server -p tidelog-ffi --no-default-features
	"$${CARGO_TARGET_DIR:-target}/release/tidelog-bench"

# The SQL workload (tidelog-analytics on DataFusion: a long cold build, so not part of
# `make bench`): a filter + group-by over 1 M JSON records in a stream, beside
# DataFusion's and DuckDB's NDJSON scans (DuckDB from .venv: `make test` makes it, or
# pip install duckdb), and the Arrow export of a 10,000-record batch.
bench-sql:
	cargo run --release --locked -p tidelog-bench --features sql -- --workload sql

# Every check and every test (formatting, lints, the unsafe rule, Rust tests, a short
# fuzzing run, the C ABI tests natively and under Valgrind, Python tests in .venv).
test:
	tests/run_all.sh

# The C library (release): libtidelog.so, libtidelog.a and a pkg-config file for them.
lib:
	cargo build --release --locked -p tidelog-ffi
	ffi/pkgconfig.sh release
