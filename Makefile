# The two commands of the README's quick start.
.PHONY: bench test

# The main job: measure tidelog on a temporary data directory and print the figures.
bench:
	cargo run --release --locked -p tidelog-bench

# Every check and every test (formatting, lints, the unsafe rule, Rust tests, a short
# fuzzing run, Python tests in .venv).
test:
	tests/run_all.sh
