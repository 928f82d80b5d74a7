#!/usr/bin/env bash
# Runs every test: Rust unit/integration tests, then the Python suite (opensearch-py) against
# the real server binary. Installs what it needs first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh

echo "== cargo build (release)"
cargo build --release --workspace --bins
export QUIDDITCH_BIN="$QUIDDITCH_TARGET_DIR/release/quidditch"

echo "== cargo test (release)"
cargo test --release --workspace

echo "== python tests"
.venv/bin/python -m pytest -q tests/python "$@"
