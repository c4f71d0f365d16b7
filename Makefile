# The two commands of the README, plus the checks CI runs.
.PHONY: run test lint bench

# Build and run the daemon on 127.0.0.1:7070 with its store in $XDG_DATA_HOME/mcp-manager.
run:
	cargo run --release -- serve

# Install what the tests need (idempotent), then run every test.
test:
	bash .ci/setup.sh
	cargo nextest run --release --no-fail-fast

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

bench:
	cargo build --release
	python3 bench/core.py
