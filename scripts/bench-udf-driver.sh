#!/usr/bin/env bash
# Issue 16's benchmark in one run on the same data (200,000 documents, price uniform in
# [0, 1000), the same generator in both): the native `range` query, the per-document UDF with
# one host→wasm call per document, the same UDF through the batch driver, and the batched-ABI
# UDF, in-process (`bench udf-search`) and through a real server over HTTP (`bench udf-http`).
#
#   scripts/bench-udf-driver.sh [--docs N] [--runs N]     (default --docs 200000 --runs 5)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bench="$QUIDDITCH_TARGET_DIR/release/bench"
args=("$@")
[[ ${#args[@]} -eq 0 ]] && args=(--docs 200000 --runs 5)
echo "== in-process (bench udf-search ${args[*]})"
"$bench" udf-search "${args[@]}"
echo "== HTTP (bench udf-http ${args[*]})"
"$bench" udf-http "${args[@]}"
