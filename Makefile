# The two commands of the README, plus the checks CI runs.
.PHONY: run test ui lint bench image

UI_SOURCES := $(shell find frontend/src frontend/public -type f 2>/dev/null) \
	frontend/index.html frontend/vite.config.ts frontend/package.json \
	frontend/tsconfig.json frontend/tsconfig.app.json

# Build the web UI, then build and run the daemon (UI embedded) on 127.0.0.1:7070 with its
# store in $XDG_DATA_HOME/mcp-manager.
run: ui
	cargo run --release -- serve

# Install what the tests need (idempotent), then run every test (on the release build).
test:
	bash .ci/setup.sh
	cargo nextest run --release --no-fail-fast

# The web UI (frontend/dist), rebuilt only when its sources changed.
ui: frontend/dist/index.html

frontend/node_modules/.package-lock.json: frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund

frontend/dist/index.html: frontend/node_modules/.package-lock.json $(UI_SOURCES)
	cd frontend && npm run build

# The container image (docs/deploy.md): the release binary alone is the build context.
# BASE=image builds on another base than debian:bookworm-slim (CI: deploy/docker/build-base.sh).
IMAGE ?= mcp-manager:latest
image: ui
	cargo build --release
	mkdir -p target/image
	cp target/release/mcp-manager target/image/mcp-manager
	docker build -f deploy/docker/Dockerfile -t $(IMAGE) $(if $(BASE),--build-arg BASE=$(BASE)) target/image

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cd frontend && npm run typecheck && npm run lint && npm run check:api

bench:
	cargo build --release
	python3 bench/core.py
