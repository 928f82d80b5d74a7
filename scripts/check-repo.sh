#!/usr/bin/env bash
# Repository hygiene checks, run by scripts/test.sh before anything is built:
#  1. no tracked file names an absolute directory of one particular machine (a home or a shared
#     build directory): builds use the repository's target/ or an env var a user may set;
#  2. no test asserts on a measured duration: machines are noisy, so speed is measured in
#     benchmarks (BENCHMARKS.md), never asserted in tests.
# Prints each offending line and exits 1 when one is found.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0

# The patterns are assembled from pieces so this file does not match itself.
root_dirs='w''ork|h''ome|U''sers|r''oot|m''nt'
machine_path="(^|[^A-Za-z0-9_.~\$-])/($root_dirs)/[A-Za-z0-9_.-]"
if hits=$(git ls-files -z -- . ':!:Cargo.lock' ':!:**/Cargo.lock' | xargs -0 grep -nIE "$machine_path" -- 2>/dev/null); then
  echo "check-repo: absolute machine paths in tracked files (use target/ or an env var):"
  echo "$hits"
  status=1
fi

# An assertion that reads a clock: Python `assert ... time.time()/monotonic()/perf_counter()` or
# a variable named like a duration; Rust `assert*!(... elapsed() / Instant::now() ...)`.
py_timing='^\s*assert\b.*(time\.(time|monotonic|perf_counter)\(\)|\b(elapsed|duration|took_s|seconds_taken|started)\b\s*[<>]|[<>]=?\s*\b(elapsed|duration)\b)'
rs_timing='\bassert(_eq|_ne)?!\(.*(\.elapsed\(\)|Instant::now\(\)|\belapsed\b\s*[<>])'
if hits=$(git ls-files -z -- '*.py' | xargs -0 grep -nPI "$py_timing" -- 2>/dev/null); then
  echo "check-repo: a test asserts on a measured duration (measure it in a benchmark instead):"
  echo "$hits"
  status=1
fi
if hits=$(git ls-files -z -- '*.rs' | xargs -0 grep -nPI "$rs_timing" -- 2>/dev/null); then
  echo "check-repo: a test asserts on a measured duration (measure it in a benchmark instead):"
  echo "$hits"
  status=1
fi
exit $status
