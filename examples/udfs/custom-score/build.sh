#!/usr/bin/env bash
# Builds build/custom_score.wasm from custom_score.wat, with `quidditch udf build` (the
# binary embeds a WAT assembler; $QUIDDITCH_BIN or `quidditch` on PATH) or wabt's wat2wasm.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p build
quidditch="${QUIDDITCH_BIN:-$(command -v quidditch || true)}"
if [ -n "$quidditch" ] && [ -x "$quidditch" ]; then
  "$quidditch" udf build custom_score.wat --out build/custom_score.wasm >/dev/null
elif command -v wat2wasm >/dev/null 2>&1; then
  wat2wasm custom_score.wat -o build/custom_score.wasm
else
  echo "need the quidditch binary (set QUIDDITCH_BIN) or wat2wasm (apt-get install wabt)" >&2
  exit 1
fi
echo "$PWD/build/custom_score.wasm"
