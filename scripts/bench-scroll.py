#!/usr/bin/env python3
"""Scroll export and _reindex throughput against a running server (BENCHMARKS.md, issue 12).

usage: scripts/bench-scroll.py URL [N]   (N documents, default 200000)
Loads N small documents with _bulk into a 2-shard index, then measures: scroll export with
the default (score) order and with sort ["_doc"], a 2-way sliced scroll run in parallel, and
_reindex of the whole index, each as documents per second."""
import json
import sys
import threading
import time

import requests

url = sys.argv[1].rstrip("/")
n = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
s = requests.Session()
s.delete(f"{url}/bench-scroll")
s.delete(f"{url}/bench-scroll-copy")
s.put(f"{url}/bench-scroll", json={"settings": {"number_of_shards": 2}})


def bulk_lines(start, count):
    out = []
    for i in range(start, start + count):
        out.append(json.dumps({"index": {"_id": str(i)}}))
        out.append(json.dumps({"n": i, "tag": f"t{i % 17}", "body": f"document number {i} for the scroll benchmark"}))
    return "\n".join(out) + "\n"


t = time.perf_counter()
for start in range(0, n, 5000):
    r = s.post(f"{url}/bench-scroll/_bulk", data=bulk_lines(start, min(5000, n - start)),
               headers={"Content-Type": "application/x-ndjson"})
    assert not r.json()["errors"]
bulk_s = time.perf_counter() - t
s.post(f"{url}/bench-scroll/_refresh")


def export(body, session=None):
    session = session or requests.Session()
    r = session.post(f"{url}/bench-scroll/_search?scroll=1m", json=body).json()
    seen = len(r["hits"]["hits"])
    sid = r["_scroll_id"]
    while True:
        r = session.post(f"{url}/_search/scroll", json={"scroll_id": sid, "scroll": "1m"}).json()
        if not r["hits"]["hits"]:
            break
        seen += len(r["hits"]["hits"])
    session.delete(f"{url}/_search/scroll", json={"scroll_id": sid})
    return seen


def timed(fn):
    t = time.perf_counter()
    got = fn()
    return got, time.perf_counter() - t


results = {}
got, secs = timed(lambda: export({"size": 1000}))
assert got == n
results["scroll default order"] = n / secs
got, secs = timed(lambda: export({"size": 1000, "sort": ["_doc"]}))
assert got == n
results["scroll sort _doc"] = n / secs
counts = [0, 0]


def slice_worker(i):
    counts[i] = export({"size": 1000, "sort": ["_doc"], "slice": {"id": i, "max": 2}})


t = time.perf_counter()
threads = [threading.Thread(target=slice_worker, args=(i,)) for i in range(2)]
[th.start() for th in threads]
[th.join() for th in threads]
secs = time.perf_counter() - t
assert sum(counts) == n
results["sliced scroll x2 (_doc, parallel)"] = n / secs
t = time.perf_counter()
r = s.post(f"{url}/_reindex", json={"source": {"index": "bench-scroll"}, "dest": {"index": "bench-scroll-copy"}}).json()
secs = time.perf_counter() - t
assert r["created"] == n, r
results["_reindex"] = n / secs
results["_bulk (5000 docs per request, same docs)"] = n / bulk_s
for name, rate in results.items():
    print(f"{name:45s} {rate:10.0f} docs/s")
