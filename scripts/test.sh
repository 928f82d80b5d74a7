#!/usr/bin/env bash
# Runs every test: Rust unit/integration tests, then the Python suite (opensearch-py) against
# the real server binary. Checks the repository first (scripts/check-repo.sh: no machine paths,
# no timing assertions), then installs what it needs (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== repository checks"
scripts/check-repo.sh
scripts/setup.sh
. scripts/env.sh

echo "== cargo build (release)"
cargo build --release --workspace --bins
export QUIDDITCH_BIN="$QUIDDITCH_TARGET_DIR/release/quidditch"

echo "== cargo test (release)"
cargo test --release --workspace

echo "== python tests"
.venv/bin/python -m pytest -q tests/python "$@"
