#!/usr/bin/env bash
# Builds build/string_distance.wasm (Rust → wasm32-wasip1). Installs the target if missing.
# Cargo target dir: $QUIDDITCH_WASM_TARGET_DIR when set (scripts/env.sh sets it for the test
# suite), else ./target.
set -euo pipefail
cd "$(dirname "$0")"
if command -v rustup >/dev/null 2>&1; then
  rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
fi
target_dir="${QUIDDITCH_WASM_TARGET_DIR:-$PWD/target}"
cargo build --release --target wasm32-wasip1 --target-dir "$target_dir"
mkdir -p build
cp "$target_dir/wasm32-wasip1/release/string_distance.wasm" build/string_distance.wasm
echo "$PWD/build/string_distance.wasm"
