"""The UDF registry replicated through etcd (issue 13): a UDF registered through one node is
usable through every node right after the 201, a deletion is seen everywhere, a node started
later gets the registry, and stats are summed across nodes.

Documents are still per node at this step (the index is created once in the cluster, the
PUT through the other nodes answers 400), so each node gets its own copy of the test
documents; expected results come from a plain `range` query on the same node."""
import json
import time

import pytest
import requests

from cluster_helpers import node_args
from conftest import Server
from udf_helpers import wat

PRICE_PARAMS = [{"name": "min_price", "type": "f64", "required": False, "default": 10, "description": "lowest price kept"}]
DOCS = [{"title": f"item {i}", "price": (i * 7) % 50} for i in range(60)]


@pytest.fixture(scope="module")
def cluster(cluster):
    """conftest's 3-node cluster, each node holding the test documents."""
    for url in cluster.urls():
        load_index(url)
    return cluster


def load_index(url):
    requests.put(f"{url}/items", json={"mappings": {"properties": {"price": {"type": "double"}}}}, timeout=60)
    lines = "".join(json.dumps({"index": {"_id": str(i)}}) + "\n" + json.dumps(d) + "\n" for i, d in enumerate(DOCS))
    r = requests.post(f"{url}/items/_bulk?refresh=true", data=lines, headers={"Content-Type": "application/x-ndjson"}, timeout=60)
    assert r.status_code == 200 and not r.json()["errors"], r.text


def register(url, name, version="1.0.0", expect=201):
    body = {"name": name, "version": version, "language": "wat", "wat_source": wat("price_filter.wat"),
            "parameters": PRICE_PARAMS, "description": "cluster test", "author": "tests", "category": "test"}
    r = requests.post(f"{url}/api/v1/udfs", json=body, timeout=120)
    assert r.status_code == expect, r.text
    return r


def udf_ids(url, name, min_price):
    body = {"size": 100, "query": {"wasm_udf": {"name": name, "params": {"min_price": min_price}}}}
    return requests.post(f"{url}/items/_search", json=body, timeout=60)


def range_ids(url, min_price):
    body = {"size": 100, "query": {"range": {"price": {"gte": min_price}}}}
    r = requests.post(f"{url}/items/_search", json=body, timeout=60)
    return sorted(h["_id"] for h in r.json()["hits"]["hits"])


def test_registered_through_one_node_is_used_through_another_right_after_the_201(cluster):
    n1, n2, n3 = cluster.urls()
    register(n1, "cl_price")
    r = udf_ids(n3, "cl_price", 30)
    assert r.status_code == 200, r.text
    assert sorted(h["_id"] for h in r.json()["hits"]["hits"]) == range_ids(n3, 30)
    expected_ids = sorted(str(i) for i, d in enumerate(DOCS) if d["price"] >= 30)
    assert range_ids(n3, 30) == expected_ids
    for url in (n1, n2, n3):
        meta = requests.get(f"{url}/api/v1/udfs/cl_price", timeout=30).json()
        assert meta["version"] == "1.0.0"
        assert meta["sha256"] == requests.get(f"{n1}/api/v1/udfs/cl_price", timeout=30).json()["sha256"]


def test_a_version_exists_once_in_the_cluster(cluster):
    n1, n2, _ = cluster.urls()
    register(n1, "cl_once")
    r = register(n2, "cl_once", expect=409)
    assert r.json()["error"]["type"] == "udf_version_conflict_exception"


def test_deleted_through_one_node_is_unknown_through_the_others(cluster):
    n1, n2, n3 = cluster.urls()
    register(n1, "cl_gone")
    assert udf_ids(n3, "cl_gone", 10).status_code == 200
    # Right after the 201 of n1: n2 waits for the registry revision before it deletes.
    r = requests.delete(f"{n2}/api/v1/udfs/cl_gone/1.0.0", timeout=60)
    assert r.status_code == 200, r.text
    for url in (n1, n3):
        r = udf_ids(url, "cl_gone", 10)
        assert r.status_code == 400, r.text
        assert "cl_gone" in r.json()["error"]["reason"]
        assert requests.get(f"{url}/api/v1/udfs/cl_gone", timeout=30).status_code == 404


def test_new_version_is_the_default_everywhere(cluster):
    n1, _, n3 = cluster.urls()
    register(n1, "cl_versions", "1.0.0")
    register(n3, "cl_versions", "1.1.0")
    for url in cluster.urls():
        meta = requests.get(f"{url}/api/v1/udfs/cl_versions", timeout=30).json()
        assert meta["version"] == "1.1.0" and meta["versions"] == ["1.0.0", "1.1.0"]


def test_stats_are_summed_across_nodes_with_a_per_node_breakdown(cluster):
    urls = cluster.urls()
    register(urls[0], "cl_stats")
    calls = {"node-1": 1, "node-2": 2, "node-3": 3}
    for i, url in enumerate(urls):
        for _ in range(calls[f"node-{i + 1}"]):
            r = requests.post(f"{url}/api/v1/udfs/cl_stats/test", json={"document": {"price": 40}}, timeout=60)
            assert r.status_code == 200 and r.json()["result"]["filter"] is True, r.text
    s = requests.get(f"{urls[1]}/api/v1/udfs/cl_stats/stats", timeout=60).json()
    assert s["versions"]["1.0.0"]["calls"] == sum(calls.values())
    assert {name: n["versions"]["1.0.0"]["calls"] for name, n in s["nodes"].items()} == calls


def test_audit_records_the_node(cluster):
    n1, n2, _ = cluster.urls()
    register(n2, "cl_audit")
    entries = requests.get(f"{n2}/api/v1/udfs/_audit", params={"udf": "cl_audit"}, timeout=30).json()["entries"]
    assert [(e["operation"], e["node"]) for e in entries] == [("register", "node-2")]
    applied = requests.get(f"{n1}/api/v1/udfs/_audit", params={"udf": "cl_audit"}, timeout=30).json()["entries"]
    assert [(e["operation"], e["node"], e["actor"]) for e in applied] == [("register", "node-1", "anonymous")]


def test_a_node_started_later_has_the_registry(etcd, cluster, tmp_path):
    n1, n2, _ = cluster.urls()
    register(n1, "cl_late")
    register(n1, "cl_late_gone")
    assert requests.delete(f"{n2}/api/v1/udfs/cl_late_gone/1.0.0", timeout=60).status_code == 200
    late = Server(tmp_path / "late", extra_args=node_args(etcd.url, cluster.name, "node-late")).start()
    try:
        load_index(late.url)
        r = udf_ids(late.url, "cl_late", 25)
        assert r.status_code == 200, r.text
        assert sorted(h["_id"] for h in r.json()["hits"]["hits"]) == range_ids(late.url, 25)
        names = {u["name"] for u in requests.get(f"{late.url}/api/v1/udfs", timeout=30).json()["udfs"]}
        assert "cl_late" in names and "cl_late_gone" not in names
    finally:
        late.stop()


def test_whole_cluster_restart_keeps_the_registry(etcd_factory, cluster_factory):
    etcd = etcd_factory()
    c = cluster_factory(etcd, 3)
    c.wait_for_nodes(3)
    register(c.nodes[0].url, "cl_restart")
    c.restart()
    for url in c.urls():
        load_index(url)
        r = udf_ids(url, "cl_restart", 40)
        assert r.status_code == 200, r.text
        assert sorted(h["_id"] for h in r.json()["hits"]["hits"]) == range_ids(url, 40)


def test_etcd_down_blocks_udf_changes_and_searches_keep_working(etcd_factory, cluster_factory):
    etcd = etcd_factory()
    c = cluster_factory(etcd, 2)
    c.wait_for_nodes(2)
    n1, n2 = c.urls()
    for url in (n1, n2):
        load_index(url)
    register(n1, "cl_before")
    etcd.stop()
    r = register(n2, "cl_during", expect=503)
    assert r.json()["error"]["type"] == "cluster_block_exception", r.text
    assert "etcd" in r.json()["error"]["reason"]
    r = requests.delete(f"{n1}/api/v1/udfs/cl_before/1.0.0", timeout=60)
    assert r.status_code == 503 and r.json()["error"]["type"] == "cluster_block_exception", r.text
    for url in (n1, n2):
        r = udf_ids(url, "cl_before", 20)
        assert r.status_code == 200, r.text
        assert sorted(h["_id"] for h in r.json()["hits"]["hits"]) == range_ids(url, 20)
        # The refused registration left nothing behind.
        assert requests.get(f"{url}/api/v1/udfs/cl_during", timeout=30).status_code == 404
    etcd.start()
    c.wait_for_nodes(2)
    registered = False
    for _ in range(100):
        r = requests.post(f"{n2}/api/v1/udfs", json={"name": "cl_after", "version": "1.0.0", "language": "wat",
                                                      "wat_source": wat("price_filter.wat"), "parameters": PRICE_PARAMS},
                          timeout=120)
        if r.status_code == 201:
            registered = True
            break
        assert r.status_code == 503, r.text
        time.sleep(0.2)
    assert registered, "registration never succeeded after etcd came back"
    assert udf_ids(n1, "cl_after", 10).status_code == 200
