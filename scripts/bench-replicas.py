#!/usr/bin/env python3
"""Replicas and failover benchmarks (BENCHMARKS.md, issue 14). Starts its own etcd and three
nodes on free ports (temporary data dirs) with the release binary, like the tests.

usage: scripts/bench-replicas.py [TRIALS] [RECOVERY_DOCS]   (defaults 5 and 100000)

1. `_bulk` through one node, 20,000 documents into a 6-shard index, with 0 and with 1 replica:
   docs/s (with a replica every batch is also logged and applied on the replica's node before
   it is acknowledged).
2. Failover, TRIALS times: `_bulk` of 60 documents (every shard) in a loop through node 1 while
   the node holding most primaries among the others is killed with SIGKILL; the time from the
   kill to the first `_bulk` whose items all succeed (every shard writable again: its primary
   promoted), then the time from the node's restart to green.
3. Recovery: a node killed, RECOVERY_DOCS documents written meanwhile, the node restarted:
   time until green (its copies recovered from the primaries)."""
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))
from cluster_helpers import Etcd, node_args  # noqa: E402
from conftest import Server  # noqa: E402

trials = int(sys.argv[1]) if len(sys.argv) > 1 else 5
recovery_docs = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
tmp = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
os.environ.setdefault("QUIDDITCH_PYTHON_RUNTIME_DIR", str(tmp / "pyrt"))

s = requests.Session()


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def bulk_body(start, n, index=None):
    meta = (lambda i: {"index": {"_index": index, "_id": str(i)}}) if index else (lambda i: {"index": {"_id": str(i)}})
    return "".join(json.dumps(meta(i)) + "\n" + json.dumps({"title": f"item {i}", "tag": f"t{i % 20}", "price": i % 100}) + "\n"
                   for i in range(start, start + n))


def wait_green(url, index):
    r = s.get(f"{url}/_cluster/health/{index}", params={"wait_for_status": "green", "timeout": "600s"}, timeout=700)
    assert r.status_code == 200 and r.json()["status"] == "green", r.text


def primaries_by_node(url, index):
    counts = {}
    for row in s.get(f"{url}/_cat/shards/{index}", params={"format": "json"}).json():
        if row["prirep"] == "p" and row["state"] == "STARTED":
            counts[row["node"]] = counts.get(row["node"], 0) + 1
    return counts


etcd = Etcd(tmp / "etcd").start()
nodes = [Server(tmp / f"node-{i}", extra_args=node_args(etcd.url, "bench", f"node-{i}")) for i in (1, 2, 3)]
for n in nodes:
    n.launch()
for n in nodes:
    n.wait_started()
try:
    s.get(f"{nodes[0].url}/_cluster/health", params={"wait_for_nodes": "3", "timeout": "30s"})
    url = nodes[0].url
    chunks = [bulk_body(start, 2000) for start in range(0, 20000, 2000)]
    for replicas in (0, 1):
        name = f"bulk_r{replicas}"
        r = s.put(f"{url}/{name}", json={"settings": {"number_of_shards": 6, "number_of_replicas": replicas}})
        assert r.status_code == 200, r.text
        wait_green(url, name)
        t = time.perf_counter()
        for chunk in chunks:
            r = s.post(f"{url}/{name}/_bulk", data=chunk, headers={"Content-Type": "application/x-ndjson"})
            assert r.status_code == 200 and not r.json()["errors"], r.text[:500]
        elapsed = time.perf_counter() - t
        print(f"_bulk through node 1, 20000 docs, 6 shards, {replicas} replica(s): {20000 / elapsed:.0f} docs/s")

    name = "failover"
    assert s.put(f"{url}/{name}", json={"settings": {"number_of_shards": 6, "number_of_replicas": 1}}).status_code == 200
    wait_green(url, name)
    to_write, to_green = [], []
    next_id = 0
    for trial in range(trials):
        held = primaries_by_node(url, name)
        victim = max(nodes[1:], key=lambda n: held.get(f"node-{nodes.index(n) + 1}", 0))
        victim.kill()
        killed = time.perf_counter()
        while True:
            r = s.post(f"{url}/_bulk", data=bulk_body(next_id, 60, name), headers={"Content-Type": "application/x-ndjson"})
            next_id += 60
            if r.status_code == 200 and not r.json()["errors"]:
                break
            time.sleep(0.01)
        to_write.append(time.perf_counter() - killed)
        victim.launch()
        victim.wait_started()
        back = time.perf_counter()
        wait_green(url, name)
        to_green.append(time.perf_counter() - back)
        print(f"trial {trial + 1}: kill -> all shards writable {to_write[-1]:.2f} s; restart -> green {to_green[-1]:.2f} s")
    print(f"failover over {trials} trials: kill -> every shard writable p50 {pct(to_write, 50):.2f} s max {max(to_write):.2f} s; "
          f"restart -> green p50 {pct(to_green, 50):.2f} s max {max(to_green):.2f} s")

    name = "recovery"
    assert s.put(f"{url}/{name}", json={"settings": {"number_of_shards": 3, "number_of_replicas": 1}}).status_code == 200
    wait_green(url, name)
    victim = nodes[2]
    victim.kill()
    time.sleep(6)  # the lease expires: the victim's primaries are promoted elsewhere
    for start in range(0, recovery_docs, 5000):
        r = s.post(f"{url}/_bulk", data=bulk_body(start, min(5000, recovery_docs - start), name),
                   headers={"Content-Type": "application/x-ndjson"})
        assert r.status_code == 200 and not r.json()["errors"], r.text[:300]
    victim.launch()
    victim.wait_started()
    t = time.perf_counter()
    wait_green(url, name)
    print(f"recovery of a returning node's copies, {recovery_docs} docs written while it was down: green after {time.perf_counter() - t:.2f} s")
finally:
    for n in nodes:
        n.kill()
    etcd.stop()
