"""Runs the official OpenSearch YAML REST tests in ../shared/opensearch-rest-tests against a
fresh server and checks the pass count has not regressed. The full per-test report is written
to `conformance-report.txt` in the pytest temp dir and summarised on stdout; the pass rate is
recorded in BENCHMARKS.md."""
import os
from pathlib import Path

import pytest

from conformance.yaml_runner import run_all

REPO = Path(__file__).resolve().parents[2]
TESTS_DIR = Path(os.environ.get("OPENSEARCH_REST_TESTS", REPO.parent / "shared" / "opensearch-rest-tests"))

# Ratchet: raise this when more of the suite passes; never lower it to make CI green.
# 201 pass on every run seen (BENCHMARKS.md); the margin of 2 absorbs the few tests that
# depend on refresh timing, so a slow CI machine cannot fail on them alone.
MIN_PASSED = 199


@pytest.mark.skipif(not TESTS_DIR.is_dir(), reason=f"{TESTS_DIR} not present")
def test_opensearch_yaml_rest_suite(server_factory, tmp_path):
    server = server_factory()
    results = run_all(server.url, TESTS_DIR)
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
