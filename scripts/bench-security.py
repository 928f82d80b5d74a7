#!/usr/bin/env python3
"""Security + TLS on vs off (BENCHMARKS.md, issue 18): the same binary started twice — plain
HTTP without security, and HTTPS with security on (a Basic-auth admin) — loaded with the same
documents; `_bulk` docs/s and match-query p50/p99 through one keep-alive client each,
alternating the two servers for two rounds so both see the same machine load.

usage: scripts/bench-security.py QUIDDITCH_BIN [DOCS] [QUERIES]   (default 100000 docs, 2000 queries)"""
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import requests
import urllib3

urllib3.disable_warnings()
binary = sys.argv[1]
n_docs = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
n_queries = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi".split()
PASSWORD = "bench-admin-password"


def start(tmp, name, secure):
    data = os.path.join(tmp, name)
    args = [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data]
    env = dict(os.environ)
    if secure:
        certs = os.path.join(tmp, "certs")
        if not os.path.exists(certs):
            subprocess.run([binary, "certs", "--out", certs], check=True, capture_output=True)
        args += ["--tls-cert", f"{certs}/node.pem", "--tls-key", f"{certs}/node-key.pem", "--security"]
        env["QUIDDITCH_ADMIN_PASSWORD"] = PASSWORD
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env=env)
    for line in proc.stderr:
        m = re.search(r"quidditch listening on (https?://[0-9.:]+)", line)
        if m:
            break
    else:
        raise SystemExit(f"{name} did not start")
    s = requests.Session()
    # Our CA: $REQUESTS_CA_BUNDLE (set on some machines) must not replace it.
    s.trust_env = False
    if secure:
        s.verify = os.path.join(tmp, "certs", "ca.pem")
        s.auth = ("admin", PASSWORD)
    return proc, m.group(1), s


def doc(i):
    return {"title": " ".join(WORDS[(i * k) % len(WORDS)] for k in (1, 3, 7)), "n": i, "tag": WORDS[i % 5]}


def bulk(url, s, index):
    s.put(f"{url}/{index}", json={"settings": {"number_of_shards": 1}}).raise_for_status()
    t = time.perf_counter()
    for start in range(0, n_docs, 5000):
        lines = []
        for i in range(start, min(n_docs, start + 5000)):
            lines.append(json.dumps({"index": {"_id": str(i)}}))
            lines.append(json.dumps(doc(i)))
        r = s.post(f"{url}/{index}/_bulk", data="\n".join(lines) + "\n", headers={"Content-Type": "application/x-ndjson"})
        assert not r.json()["errors"]
    elapsed = time.perf_counter() - t
    s.post(f"{url}/{index}/_refresh").raise_for_status()
    return n_docs / elapsed


def searches(url, s, index):
    lat = []
    for q in range(n_queries):
        body = {"query": {"bool": {"must": {"match": {"title": WORDS[q % len(WORDS)]}},
                                   "filter": {"term": {"tag": WORDS[q % 5]}}}}, "size": 10}
        t = time.perf_counter()
        r = s.post(f"{url}/{index}/_search", json=body)
        lat.append(time.perf_counter() - t)
        assert r.status_code == 200
    lat.sort()
    return statistics.median(lat) * 1e3, lat[int(len(lat) * 0.99)] * 1e3


tmp = tempfile.mkdtemp(prefix="bench-security-")
servers = {}
try:
    servers["plain HTTP, security off"] = start(tmp, "plain", False)
    servers["TLS + security on"] = start(tmp, "secure", True)
    print(f"{n_docs} docs, {n_queries} match+term queries, load {os.getloadavg()[0]:.1f}")
    for round_no in (1, 2):
        for name, (_, url, s) in servers.items():
            index = f"bench-{round_no}"
            rate = bulk(url, s, index)
            p50, p99 = searches(url, s, index)
            print(f"round {round_no}  {name:26s} _bulk {rate:9.0f} docs/s   search p50 {p50:6.3f} ms  p99 {p99:6.3f} ms")
finally:
    for proc, _, _ in servers.values():
        proc.terminate()
        proc.wait()
    shutil.rmtree(tmp, ignore_errors=True)
