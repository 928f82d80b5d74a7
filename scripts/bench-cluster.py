#!/usr/bin/env python3
"""Cluster mode benchmarks (BENCHMARKS.md, issue 13). Starts its own etcd and nodes on free
ports (temporary data dirs) with the release binary, like the tests.

usage: scripts/bench-cluster.py [REGISTRATIONS] [SEARCHES]   (defaults 40 and 2000)

1. UDF registration visible on the other nodes: register a WAT UDF through node 1, then time
   from the 201 until a `/test` call of it succeeds through node 2 and through node 3.
2. `_bulk` through one node, 20,000 documents into a 6-shard index: docs/s with 3 nodes (the
   coordinator splits each request per node) vs a single node.
3. Search latency (match + terms aggregation) on that index through a node of the 3-node
   cluster (each shard's query phase on its node, reduce, fetch of the winners) vs the single
   node: the coordinator's overhead."""
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))
from cluster_helpers import Etcd, node_args  # noqa: E402
from conftest import Server  # noqa: E402
from udf_helpers import wat  # noqa: E402

registrations = int(sys.argv[1]) if len(sys.argv) > 1 else 40
searches = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
os.environ.setdefault("QUIDDITCH_PYTHON_RUNTIME_DIR", str(tmp / "pyrt"))


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


etcd = Etcd(tmp / "etcd").start()
nodes = [Server(tmp / f"node-{i}", extra_args=node_args(etcd.url, "bench", f"node-{i}")) for i in (1, 2, 3)]
for n in nodes:
    n.launch()
for n in nodes:
    n.wait_started()
single = Server(tmp / "single").start()
try:
    s = requests.Session()
    s.get(f"{nodes[0].url}/_cluster/health", params={"wait_for_nodes": "3", "timeout": "30s"})
    visible = {2: [], 3: []}
    body = {"version": "1.0.0", "language": "wat", "wat_source": wat("price_filter.wat"),
            "parameters": [{"name": "min_price", "type": "f64", "required": False, "default": 10}]}
    for i in range(registrations):
        r = s.post(f"{nodes[0].url}/api/v1/udfs", json={"name": f"bench_{i}", **body})
        assert r.status_code == 201, r.text
        done = time.perf_counter()
        for k in (2, 3):
            while True:
                t = s.post(f"{nodes[k - 1].url}/api/v1/udfs/bench_{i}/test", json={"document": {"price": 20}})
                if t.status_code == 200:
                    break
            visible[k].append((time.perf_counter() - done) * 1000)
    both = [max(a, b) for a, b in zip(visible[2], visible[3])]
    print(f"UDF visible after the 201 ({registrations} registrations), ms: "
          f"node 2 p50 {pct(visible[2], 50):.2f} p99 {pct(visible[2], 99):.2f}; "
          f"node 3 p50 {pct(visible[3], 50):.2f} p99 {pct(visible[3], 99):.2f}; "
          f"both p50 {pct(both, 50):.2f} p99 {pct(both, 99):.2f}")

    docs = [{"title": f"red item {i}" if i % 3 else f"blue item {i}", "tag": f"t{i % 20}", "price": i % 100}
            for i in range(20000)]
    chunks = ["".join(json.dumps({"index": {"_id": str(i)}}) + "\n" + json.dumps(docs[i]) + "\n"
                      for i in range(start, start + 2000)) for start in range(0, len(docs), 2000)]
    query = {"size": 10, "query": {"match": {"title": "red"}}, "aggs": {"tags": {"terms": {"field": "tag"}}}}
    for label, url in (("single node", single.url), ("cluster node (3 nodes)", nodes[1].url)):
        r = s.put(f"{url}/bench", json={"settings": {"number_of_shards": 6, "number_of_replicas": 0},
                                        "mappings": {"properties": {"tag": {"type": "keyword"}, "title": {"type": "text"},
                                                                    "price": {"type": "long"}}}})
        assert r.status_code == 200, r.text
        t = time.perf_counter()
        for chunk in chunks:
            r = s.post(f"{url}/bench/_bulk", data=chunk, headers={"Content-Type": "application/x-ndjson"})
            assert r.status_code == 200 and not r.json()["errors"], r.text[:500]
        elapsed = time.perf_counter() - t
        print(f"_bulk through the {label}: {len(docs)} docs in {len(chunks)} requests, {len(docs) / elapsed:.0f} docs/s")
        assert s.post(f"{url}/bench/_refresh").status_code == 200
        assert s.post(f"{url}/bench/_count").json()["count"] == len(docs)
        for _ in range(100):
            s.post(f"{url}/bench/_search", json=query)
        took = []
        for _ in range(searches):
            t = time.perf_counter()
            r = s.post(f"{url}/bench/_search", json=query)
            took.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200
        print(f"match + terms agg through the {label}, {searches} searches, ms: "
              f"p50 {pct(took, 50):.2f} p99 {pct(took, 99):.2f} mean {statistics.mean(took):.2f}")
finally:
    for n in nodes + [single]:
        n.kill()
    etcd.stop()
