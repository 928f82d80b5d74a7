"""Runs every official OpenSearch YAML REST test in `opensearch-rest-tests` (both parts of its
SOURCE.md) against a fresh server and checks the pass count has not regressed. The full
per-test report is written to `conformance-report.txt` in the pytest temp dir and summarised on
stdout; the pass rate is recorded in BENCHMARKS.md.

Where the tests are: `$OPENSEARCH_REST_TESTS` when set, else `shared/opensearch-rest-tests` beside
the clone (`<repo>/../shared`, as CI lays it out) or beside the main checkout when this clone is
a git worktree. A missing directory fails the test: a conformance run that silently runs
nothing would hide every regression."""
import os
import subprocess
from pathlib import Path

from conformance.yaml_runner import run_all

REPO = Path(__file__).resolve().parents[2]


def rest_tests_dir() -> Path:
    if os.environ.get("OPENSEARCH_REST_TESTS"):
        return Path(os.environ["OPENSEARCH_REST_TESTS"])
    roots = [REPO]
    common = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--path-format=absolute", "--git-common-dir"],
                            capture_output=True, text=True)
    if common.returncode == 0 and common.stdout.strip():
        roots.append(Path(common.stdout.strip()).parent)  # the main checkout of a worktree
    candidates = [root.parent / "shared" / "opensearch-rest-tests" for root in roots]
    return next((c for c in candidates if c.is_dir()), candidates[0])

# Ratchet: raise this when more of the suite passes; never lower it to make CI green.
# 345 pass on main with the Java runner's rules over both parts of the suite (BENCHMARKS.md).
MIN_PASSED = 508


def test_opensearch_yaml_rest_suite(server_factory, tmp_path):
    tests_dir = rest_tests_dir()
    assert (tests_dir / "api").is_dir(), (
        f"the OpenSearch REST tests are missing: no {tests_dir}/api. Put shared/opensearch-rest-tests "
        f"beside the clone or set OPENSEARCH_REST_TESTS to its path.")
    server = server_factory()
    results = run_all(server.url, tests_dir)
    passed = [r for r in results if r.outcome == "passed"]
    failed = [r for r in results if r.outcome == "failed"]
    skipped = [r for r in results if r.outcome == "skipped"]
    report = tmp_path / "conformance-report.txt"
    report.write_text("\n".join(f"{r.outcome:8} {r.name}  {r.detail}" for r in results))
    run = len(passed) + len(failed)
    print(f"\nOpenSearch YAML REST conformance: {len(passed)}/{run} passed "
          f"({100.0 * len(passed) / max(run, 1):.1f}%), {len(skipped)} skipped; report: {report}")
    for r in failed:
        print(f"  FAILED {r.name}: {r.detail[:200]}")
    assert len(results) > 0
    assert len(passed) >= MIN_PASSED, f"conformance regressed: {len(passed)} < {MIN_PASSED}"
