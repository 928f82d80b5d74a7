#!/usr/bin/env bash
# Builds every example UDF from source with its own toolchain; prints one .wasm path per line.
# The WAT example needs the quidditch binary: set QUIDDITCH_BIN, or it is built first.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
if [ -z "${QUIDDITCH_BIN:-}" ]; then
  cd "$repo"
  . scripts/env.sh
  cargo build --release -p quidditch-server --bin quidditch >&2
  export QUIDDITCH_BIN="$QUIDDITCH_TARGET_DIR/release/quidditch"
fi
for example in string-distance geo-filter custom-score; do
  echo "== $example" >&2
  "$here/$example/build.sh"
done
