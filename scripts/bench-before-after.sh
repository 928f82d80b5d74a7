#!/usr/bin/env bash
# `_bulk` docs/s and search p50/p99 of two `quidditch` builds on the same machine in one run:
# `bench search-engine --server-only` (the "Search engine" bench's server side: 200,000
# documents, 1,000 match + term + range queries), alternating baseline and current ROUNDS
# times (default 3) so both see the same load. Besides wall clock it prints the server's CPU
# seconds while indexing, which a shared machine's other load disturbs less.
#
#   scripts/bench-before-after.sh BASELINE_BIN [CURRENT_BIN] [bench args…]
#
# BASELINE_BIN: a `quidditch` binary built from the commit before the change (e.g. a
# `git worktree` at that commit, `cargo build --release --workspace --bins` there).
# CURRENT_BIN defaults to this tree's target/release/quidditch.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
baseline="${1:?usage: scripts/bench-before-after.sh BASELINE_BIN [CURRENT_BIN] [bench args…]}"
shift
current="$QUIDDITCH_TARGET_DIR/release/quidditch"
if [[ $# -gt 0 && "$1" != --* ]]; then current="$1"; shift; fi
bench="${BENCH:-$QUIDDITCH_TARGET_DIR/release/bench}"
for round in $(seq 1 "${ROUNDS:-3}"); do
  for side in baseline current; do
    bin="$baseline"; [[ $side == current ]] && bin="$current"
    echo "== round $round: $side ($bin), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    "$bench" search-engine --server-only --server-bin "$bin" "$@" | grep -E '^quidditch|total hits'
  done
done
