#!/usr/bin/env python3
"""geo_distance filter vs a numeric range of the same selectivity (BENCHMARKS.md, issue 21).

usage: scripts/bench-geo.py URL [N] [RUNS]   (N documents, default 500000; RUNS per query, 50)
Loads N documents with a geo_point `location` (uniform over Europe) and an integer `n`
(uniform over 0..N) into a 1-shard index, then, for several radii around Amsterdam, counts
the geo_distance matches and times the filter (`size: 0`, exact total) against a `range` on
`n` matching the same number of documents. Prints the median latency of each."""
import json
import random
import statistics
import sys
import time

import requests

url = sys.argv[1].rstrip("/")
n = int(sys.argv[2]) if len(sys.argv) > 2 else 500_000
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 50
s = requests.Session()
index = "bench-geo"
s.delete(f"{url}/{index}")
s.put(f"{url}/{index}", json={"settings": {"number_of_shards": 1, "number_of_replicas": 0}, "mappings": {
    "properties": {"location": {"type": "geo_point"}, "n": {"type": "integer"}}}})
rng = random.Random(1)
order = list(range(n))
rng.shuffle(order)
for start in range(0, n, 10_000):
    lines = []
    for i in range(start, min(n, start + 10_000)):
        lines.append(json.dumps({"index": {"_id": str(i)}}))
        lines.append(json.dumps({"location": {"lat": rng.uniform(36, 70), "lon": rng.uniform(-10, 30)}, "n": order[i]}))
    r = s.post(f"{url}/{index}/_bulk", data="\n".join(lines) + "\n", headers={"Content-Type": "application/x-ndjson"})
    assert not r.json()["errors"]
s.post(f"{url}/{index}/_refresh")
s.post(f"{url}/{index}/_forcemerge?max_num_segments=1")


def timed(query):
    body = {"size": 0, "track_total_hits": True, "query": query}
    total = s.post(f"{url}/{index}/_search", json=body).json()["hits"]["total"]["value"]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        s.post(f"{url}/{index}/_search", json=body).raise_for_status()
        times.append((time.perf_counter() - t) * 1000)
    return total, statistics.median(times)


print(f"{n} docs, 1 shard, 1 segment, median of {runs} runs (ms)")
print("radius  | matches | geo_distance | range same count | ratio")
for km in [10, 50, 200, 800]:
    geo = {"bool": {"filter": {"geo_distance": {"distance": f"{km}km", "location": [4.9041, 52.3676]}}}}
    count, geo_ms = timed(geo)
    rng_count, range_ms = timed({"bool": {"filter": {"range": {"n": {"lt": count}}}}})
    assert rng_count == count
    print(f"{km:>5}km | {count:>7} | {geo_ms:>9.2f} ms | {range_ms:>13.2f} ms | {geo_ms / range_ms:.1f}x")
s.delete(f"{url}/{index}")
