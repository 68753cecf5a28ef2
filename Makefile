# The two commands of the README's quick start, and the C library.
.PHONY: bench test lib

# The main job: measure tidelog on a temporary data directory and print the figures.
# The ffi workload links a C program against the release libtidelog.a: built first,
# without SQL (--no-default-features: no DataFusion, so a cold `make bench` stays short;
# `make bench-sql` measures the SQL workloads).
bench:
	cargo build --release --locked -p tidelog-ffi --no-default-features
	cargo run --release --locked -p tidelog-bench

# Every check and every test (formatting, lints, the unsafe rule, Rust tests, a short
# fuzzing run, the C ABI tests natively and under Valgrind, Python tests in .venv).
test:
	tests/run_all.sh

# The C library (release): libtidelog.so, libtidelog.a and a pkg-config file for them.
lib:
	cargo build --release --locked -p tidelog-ffi
	ffi/pkgconfig.sh release
