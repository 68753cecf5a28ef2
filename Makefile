# The two commands of the README's quick start, and the C library.
.PHONY: bench test lib

# The main job: measure tidelog on a temporary data directory and print the figures.
bench:
	cargo run --release --locked -p tidelog --example log_tour

# Every check and every test (formatting, lints, Rust tests, the C ABI tests under Valgrind).
test:
	tests/run_all.sh

# The C library (release): libtidelog.so, libtidelog.a and a pkg-config file for them.
lib:
	cargo build --release --locked -p tidelog-ffi
	ffi/pkgconfig.sh release
