#!/usr/bin/env bash
# Runs the server: single node, data under ./data, http://127.0.0.1:9200.
# Extra arguments go to `quidditch serve` (e.g. --listen 0.0.0.0:9200 --data-dir /srv/q).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
cargo build --release --workspace --bin quidditch
exec "$QUIDDITCH_TARGET_DIR/release/quidditch" serve "$@"
