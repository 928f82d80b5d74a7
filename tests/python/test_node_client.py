"""The official Node.js client (@opensearch-project/opensearch 3.x) against the real server.

The client is installed with npm into this test's temporary directory (never committed); the
flows themselves are in tests/node/client_flows.cjs: info, index creation, `helpers.bulk`,
`count`, `helpers.scrollSearch`, `helpers.scrollDocuments`, a search with aggregations, a match
query, `helpers.msearch`, error bodies and `deleteByQuery`. Every expected value is computed here
from the same Debian package records.
"""
import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from debian_records import MAPPING, load_packages, standard_words

NODE_CLIENT = "@opensearch-project/opensearch@3.9.0"
SCRIPT = Path(__file__).resolve().parents[1] / "node" / "client_flows.cjs"


@pytest.fixture(scope="module")
def node_modules(tmp_path_factory):
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.fail("node and npm are required (the machine has them; scripts/setup.sh checks)")
    prefix = tmp_path_factory.mktemp("node-client")
    subprocess.run(
        ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error",
         NODE_CLIENT],
        check=True, timeout=300,
    )
    return prefix / "node_modules"


@pytest.fixture(scope="module")
def records():
    docs = load_packages(4000)
    if len(docs) < 200:
        pytest.skip("fewer than 200 Debian package records on this machine")
    return docs


def run_flows(node_modules, url, index, records, min_size, tmp_path):
    data = tmp_path / "records.json"
    data.write_text(json.dumps(records))
    Path(str(data) + ".mapping").write_text(json.dumps(MAPPING))
    done = subprocess.run(
        ["node", str(SCRIPT), url, index, str(data), str(min_size)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "NODE_PATH": str(node_modules)},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_node_client_everyday_flows(server, client, node_modules, records, tmp_path):
    sizes = sorted(r["installed_size"] for r in records)
    min_size = sizes[len(sizes) // 2]  # about half the records match the range query
    out = run_flows(node_modules, server.url, "node-packages", records, min_size, tmp_path)

    assert out["version_number"] == client.info()["version"]["number"]
    n = len(records)
    assert out["bulk"] == {"total": n, "successful": n, "failed": 0}
    assert out["count"] == n

    big = [r for r in records if r["installed_size"] >= min_size]
    assert sorted(out["scroll"]["ids"]) == sorted(r["package"] for r in big)
    # pages of 250 (the last may be partial), plus the empty page that ends the scroll is not yielded
    assert out["scroll"]["pages"] >= -(-len(big) // 250)
    assert out["scroll_documents_sections"] == dict(Counter(r["section"] for r in records))

    assert out["aggs_total"] == {"value": len(big), "relation": "eq"}
    by_section = Counter(r["section"] for r in big)
    sums = Counter()
    for r in big:
        sums[r["section"]] += r["installed_size"]
    top = sorted(by_section.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    buckets = out["aggs"]["by_section"]["buckets"]
    assert [(b["key"], b["doc_count"]) for b in buckets] == top
    assert [b["size_sum"]["value"] for b in buckets] == [float(sums[k]) for k, _ in top]
    assert out["aggs"]["by_section"]["sum_other_doc_count"] == len(big) - sum(c for _, c in top)
    assert out["aggs"]["size_max"]["value"] == float(max(r["installed_size"] for r in big))
    stats = out["aggs"]["size_stats"]
    assert stats["count"] == len(big)
    assert stats["sum"] == float(sum(r["installed_size"] for r in big))

    assert out["match_total"] == sum(1 for r in records if "library" in standard_words(r["summary"]))
    priorities = Counter(r["priority"] for r in records)
    assert out["msearch"] == [priorities["required"], priorities["optional"]]

    assert out["missing_index"] == {
        "is_response_error": True, "status": 404, "type": "index_not_found_exception"}
    assert out["unknown_param"] == {"status": 400, "type": "illegal_argument_exception"}

    assert out["delete_by_query"] == priorities["optional"]
    assert out["count_after_delete"] == n - priorities["optional"]
