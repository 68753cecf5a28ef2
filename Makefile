# The two commands of the README's quick start, and the C library.
.PHONY: bench test lib

# The main job: measure tidelog on a temporary data directory and print the figures.
# The ffi workload links a C program against the release libtidelog.a, and the server
# workload runs the release `tidelog` binary: both built first.
bench:
	cargo build --release --locked -p tidelog-ffi -p tidelog-server
	cargo run --release --locked -p tidelog-bench

# Every check and every test (formatting, lints, the unsafe rule, Rust tests, a short
# fuzzing run, the C ABI tests natively and under Valgrind, Python tests in .venv).
test:
	tests/run_all.sh

# The C library (release): libtidelog.so, libtidelog.a and a pkg-config file for them.
lib:
	cargo build --release --locked -p tidelog-ffi
	ffi/pkgconfig.sh release
